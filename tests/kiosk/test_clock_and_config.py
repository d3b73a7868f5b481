"""Clock trust and config loading: the two things every kiosk decision depends on at start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from common.config_errors import ConfigError, load_toml_model
from kiosk.clock import BUILD_TIME, SOFTWARE_EPOCH, TimeFloor, WallClock


def test_clock_before_the_software_existed_is_never_trusted(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    flag.touch()
    reading = WallClock(assume_trusted=True, sync_flag=flag, source=lambda: 0.0).read()
    assert not reading.trusted and reading.reason == "before_software_epoch"


def test_clock_is_trusted_once_ntp_synchronised(tmp_path: Path) -> None:
    flag = tmp_path / "synchronized"
    t = datetime(2026, 11, 22, tzinfo=UTC).timestamp()
    assert WallClock(sync_flag=flag, source=lambda: t).read().reason == "not_synchronized"
    flag.touch()
    reading = WallClock(sync_flag=flag, source=lambda: t).read()
    assert reading.trusted and reading.now == datetime(2026, 11, 22, tzinfo=UTC)


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


T = datetime(2026, 11, 22, tzinfo=UTC)
DAY = 86400.0


def test_build_time_is_a_real_stamp_and_the_lowest_floor(tmp_path: Path) -> None:
    assert SOFTWARE_EPOCH <= BUILD_TIME <= datetime.now(UTC)
    assert TimeFloor(tmp_path / "floor.json").floor() >= BUILD_TIME
    assert TimeFloor(None).hub_now() is None


def test_time_floor_rises_with_hub_time_and_trusted_scans_and_survives_a_restart(tmp_path: Path) -> None:
    path, ticks = tmp_path / "time-floor.json", Ticks()
    floor = TimeFloor(path, build_time=T - timedelta(days=30), monotonic=ticks)
    floor.saw_hub_time(T)
    floor.saw_hub_time(T - timedelta(days=2))  # a replayed older message lowers nothing
    assert floor.floor() == T and floor.hub_now() == T
    floor.saw_trusted_time(T + timedelta(hours=1))  # a passage recorded with a trusted clock
    assert floor.floor() == T + timedelta(hours=1) and floor.hub_now() == T  # scans never move hub time
    floor.persist()  # not due yet (SD card): nothing written
    assert not path.exists()
    ticks.t += 3600  # an hour of uptime, no network, no scans: both still advance (a little slower)
    assert T + timedelta(minutes=59) < floor.hub_now() <= T + timedelta(hours=1)
    floor.persist()  # due now
    again = TimeFloor(path, build_time=T - timedelta(days=30), monotonic=Ticks())  # rebooted
    assert T + timedelta(hours=1, minutes=59) < again.floor() <= T + timedelta(hours=2)
    assert again.hub_now() is not None and again.hub_now() > T + timedelta(minutes=59)
    path.write_text("{not json")  # a torn file: the build time, never a crash
    assert TimeFloor(path, build_time=T, monotonic=Ticks()).floor() == T


def test_a_reading_below_the_floor_is_untrusted_and_the_floor_is_used(tmp_path: Path) -> None:
    synced = tmp_path / "synchronized"
    synced.touch()  # NTP says synchronised (it was spoofed), or an RTC is assumed right
    floor = TimeFloor(None, build_time=T)
    floor.saw_hub_time(T)
    for assume in (False, True):
        behind = WallClock(assume, synced, source=lambda: T.timestamp() - 3 * DAY, floor=floor).read()
        assert (behind.trusted, behind.reason) == (False, "behind_floor")
        assert behind.now >= T and behind.floor >= T and behind.hub_now >= T
        assert not behind.context().trusted and behind.context().flag_end_cutoff() == behind.hub_now
    # within the tolerance (the hub's clock a little ahead): trusted, at the floor
    close = WallClock(False, synced, source=lambda: T.timestamp() - 60, floor=floor, tolerance_s=300).read()
    assert close.trusted and close.now >= T
    ahead = WallClock(False, synced, source=lambda: T.timestamp() + 7 * DAY, floor=floor).read()
    assert ahead.trusted and ahead.context().flag_end_cutoff() < T + timedelta(days=1)  # the hub's time


class Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    fps: float


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    camera: Inner


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[camera]\nfps = 'fast'\n", "camera.fps: Input should be a valid number"),
        ("[camera]\nfps = 1\nfsp = 2\n", "camera.fsp: unknown key"),
        ("[camera\n", "not valid TOML"),
        ("", "camera: Field required"),
    ],
)
def test_config_errors_name_the_key_and_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_toml_model(path, Outer)
    assert expected in str(info.value)
    assert str(path) in str(info.value)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_toml_model(tmp_path / "absent.toml", Outer)
