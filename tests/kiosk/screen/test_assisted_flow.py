"""Assisted mode end to end in the kiosk service: the officer sees the details, confirms or overrides,
and types in a paper declaration; every action is a recorded passage with the officer's id."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from gpiozero.pins.mock import MockFactory, MockPWMPin

from kiosk.camera.replay import GeneratedSource
from kiosk.config import KioskConfig
from kiosk.pipeline import Decision
from kiosk.service import KioskService
from kiosk.simulate import background, phone_scene
from kiosk.verify.flags import FlagStatus, PersonFlag
from testkit.linkrig import wait_for
from tests.kiosk.screen.test_screen_http import get, post

CCCD = "001099012345|123456789|Nguyễn Văn An|01011999|Nam|Thôn 1, Xã A, Huyện B, Tỉnh C|15082021"
F0_PERSON = "079084012345"


def test_officer_confirms_overrides_and_types_a_paper_declaration(tmp_path: Path) -> None:
    config = KioskConfig.model_validate(
        {
            "kiosk": {
                "kiosk_id": "road-1",
                "checkpoint_id": "ql1a-km12",
                "mode": "assisted",
                "state_dir": str(tmp_path),
                "assume_clock_trusted": True,
            },
            "indicator": {"hold_s": 30},
            "screen": {"port": 0},
        }
    )
    # The card, then an empty scene for as long as the test runs: a finite source ends the service, and
    # on a busy machine it ended (screen server closed) while the officer was still posting.
    scenes, empty = [phone_scene(CCCD, seed=i) for i in range(3)], background(640, 480)
    decisions: list[Decision] = []
    later = [0.0]  # seconds the kiosk's monotonic clock is moved ahead (the officer's window expiring)
    service = KioskService(
        config,
        source=GeneratedSource(lambda i: scenes[i] if i < len(scenes) else empty, fps=30),
        pin_factory=MockFactory(pin_class=MockPWMPin),
        on_decision=decisions.append,
        monotonic=lambda: time.monotonic() + later[0],
    )
    service.flags.apply_delta(
        [
            PersonFlag(
                service.flags.hash_id(F0_PERSON), FlagStatus.F0, int(datetime.now(UTC).timestamp()) - 60
            )
        ],
        [],
        1,
    )
    thread = threading.Thread(target=service.run)
    thread.start()
    try:
        wait_for(lambda: bool(decisions), 30, "the scan")
        assert service.screen is not None
        url = service.screen.url
        state = json.loads(get(url + "api/state")[1])
        shown = state["current"]
        assert shown["outcome"] == "REVIEW"  # a bare ID card at a road checkpoint: see the officer
        assert shown["subject"] == {"id_number": "001099012345", "name": "Nguyễn Văn An", "dob": "1999-01-01"}

        code, body = post(
            url + "api/officer", {"officer_id": "CB-042", "action": "confirm", "event_id": shown["event_id"]}
        )
        assert code == 200 and body["verdict"] == "REVIEW"
        confirmation = body["event_id"]  # now on screen: an override names it, as the page does
        code, body = post(
            url + "api/officer",
            {"officer_id": "CB-042", "action": "override", "verdict": "PASS", "event_id": confirmation},
        )
        assert code == 200 and body["verdict"] == "PASS"
        on_screen = body["event_id"]
        code, body = post(url + "api/officer", {"action": "confirm", "event_id": on_screen})
        assert code == 422 and "officer_id" in body["error"]
        # The event id is required, and must be the verdict on screen now.
        code, body = post(url + "api/officer", {"officer_id": "CB-042", "action": "confirm"})
        assert code == 422 and "event_id" in body["error"]
        code, body = post(
            url + "api/officer", {"officer_id": "CB-042", "action": "confirm", "event_id": shown["event_id"]}
        )
        assert code == 422 and "changed" in body["error"]
        # Was: an override landed hours later on the stale verdict. The window is the hold time.
        later[0] += 31  # past indicator.hold_s
        late = {"officer_id": "CB-042", "action": "override", "verdict": "PASS", "event_id": on_screen}
        code, body = post(url + "api/officer", late)
        assert code == 422 and "no longer on screen" in body["error"]

        form = {"officer_id": "CB-042", "id_number": F0_PERSON, "name": "Lê Văn Cường", "dob": "1984-03-03"}
        code, body = post(url + "api/manual", form)
        assert code == 200 and body["verdict"] == "DENY"  # paper cannot get an F0 person through
        code, body = post(url + "api/manual", {**form, "id_number": "12345"})
        assert code == 422 and "12-digit" in body["error"]
    finally:
        service.stop_event.set()
        thread.join(30)

    from kiosk.store import KioskStore

    events = KioskStore(tmp_path / "kiosk.db").passages()
    assert [(e.mode, e.verdict, e.officer_id, e.override) for e in events] == [
        ("assisted", "REVIEW", None, None),
        ("assisted", "REVIEW", "CB-042", False),
        ("assisted", "PASS", "CB-042", True),
        ("manual", "DENY", "CB-042", None),
    ]
    assert events[3].kind == "manual" and "flag_f0" in events[3].reasons
    assert [e.seq for e in events] == [1, 2, 3, 4]
