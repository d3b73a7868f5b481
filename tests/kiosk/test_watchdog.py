"""The systemd watchdog vouches for every loop of the kiosk (issue 12 item 12).

A heartbeat, not traffic: a kiosk whose broker is unreachable, or whose camera is unplugged, keeps its
loops running and keeps pinging; one whose capture thread hangs in a driver stops pinging, so systemd
restarts it. Pings are read from a real datagram socket, as systemd would receive them.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from common.sdnotify import SystemdNotifier
from kiosk.camera.base import GrayImage, SourceError
from kiosk.config import KioskConfig
from kiosk.service import KioskService
from testkit.services import free_port

WATCHDOG_S = 2.0  # WatchdogSec: a ping is due every half of it


class Camera:
    """A camera stand-in (hardware is the one thing the tests replace): it can hang or vanish."""

    name = "test-camera"

    def __init__(self) -> None:
        self.hang = threading.Event()
        self.gone = threading.Event()
        self.released = threading.Event()

    def open(self) -> None:
        if self.gone.is_set():
            raise SourceError("no such device")

    def read(self) -> GrayImage:
        if self.hang.is_set():
            self.released.wait()  # a driver stuck in a read, until the test ends
        if self.gone.is_set():
            raise SourceError("device unplugged")
        time.sleep(1 / 30)
        return np.full((120, 160), 128, dtype=np.uint8)

    def close(self) -> None:
        pass


@pytest.fixture
def pings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SystemdNotifier, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(0.1)
    monkeypatch.setenv("WATCHDOG_USEC", str(int(WATCHDOG_S * 1_000_000)))
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    notifier = SystemdNotifier(path)
    yield notifier, server
    notifier.close()
    server.close()


def count_pings(server: socket.socket, seconds: float) -> int:
    n, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(TimeoutError):
            n += server.recv(4096) == b"WATCHDOG=1"
    return n


def run_kiosk(
    tmp_path: Path, camera: Camera, notifier: SystemdNotifier
) -> tuple[KioskService, threading.Thread]:
    config = KioskConfig.model_validate(
        {
            "kiosk": {"kiosk_id": "kiosk-wd", "checkpoint_id": "cp-1", "state_dir": str(tmp_path / "state")},
            "screen": {"enabled": False},
            # A broker nobody listens on: the kiosk is offline the whole time.
            "mqtt": {"port": free_port(), "backoff_min_s": 0.1, "backoff_max_s": 0.5},
        }
    )
    service = KioskService(
        config, source=camera, pin_factory=MockFactory(pin_class=MockPWMPin), notifier=notifier
    )
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    return service, thread


def test_an_offline_kiosk_without_a_camera_keeps_pinging(tmp_path: Path, pings) -> None:
    notifier, server = pings
    camera = Camera()
    service, thread = run_kiosk(tmp_path, camera, notifier)
    try:
        assert count_pings(server, 2 * WATCHDOG_S) >= 1  # offline from the start
        camera.gone.set()  # unplugged: the capture loop keeps trying to reopen it, and beating
        count_pings(server, WATCHDOG_S)
        assert count_pings(server, 2 * WATCHDOG_S) >= 1
    finally:
        service.stop_event.set()
        thread.join(20)


def test_a_capture_thread_hung_in_its_driver_stops_the_pings(tmp_path: Path, pings) -> None:
    notifier, server = pings
    camera = Camera()
    service, thread = run_kiosk(tmp_path, camera, notifier)
    try:
        assert count_pings(server, 2 * WATCHDOG_S) >= 1
        camera.hang.set()
        count_pings(server, 1.5 * WATCHDOG_S)  # the capture loop's last beat ages past WatchdogSec
        assert count_pings(server, 2 * WATCHDOG_S) == 0  # systemd would now restart the kiosk
        assert service.heartbeats.stale(WATCHDOG_S) == ["capture"]
    finally:
        camera.released.set()
        service.stop_event.set()
        thread.join(20)
