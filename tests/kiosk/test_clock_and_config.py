"""Clock trust and config loading: the two things every kiosk decision depends on at start."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from kiosk.clock import WallClock
from kiosk.config_errors import ConfigError, load_toml_model


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
