"""Shared fixtures: real services on free ports, gpiozero mock pins, sample data locations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from testkit.services import MosquittoBroker, PostgresServer

# Headless Chromium fixtures (`chromium`, `screen_page`) for the kiosk screen tests.
pytest_plugins = ["tests.support.browser"]

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLES = REPO_ROOT / "tests" / "data" / "samples"  # copied from ../shared/samples (Apache-2.0, see README)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A fresh Mosquitto for this test on a free port; tests may kill() and start() it."""
    b = MosquittoBroker(workdir=tmp_path / "mosquitto")
    b.start()
    try:
        yield b
    finally:
        b.kill()


@pytest.fixture
def mock_pins() -> Iterator[MockFactory]:
    """gpiozero's own mock pin factory, installed as the default for the test's duration."""
    previous = Device.pin_factory
    factory = MockFactory(pin_class=MockPWMPin)
    Device.pin_factory = factory
    try:
        yield factory
    finally:
        factory.reset()
        Device.pin_factory = previous


@pytest.fixture(scope="session")
def shared_samples() -> Path:
    """Real QR photographs (zxing-cpp's public samples, in the repo: tests/data/samples)."""
    return SAMPLES


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLAlchemy URL of a PRIVATE PostgreSQL started for this test session (never the machine's own)."""
    server = PostgresServer(workdir=tmp_path_factory.mktemp("postgres"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
