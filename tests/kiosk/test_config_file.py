"""The shipped example config is valid, and mistakes in it are named precisely."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import ConfigError, load_config
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "kiosk.toml"


def test_example_config_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert config.kiosk.kiosk_id == "kiosk-sm-01"
    assert config.indicator.gate_pin == 24


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            ('kiosk_id = "kiosk-sm-01"', 'kiosk_id = "Kiosk SM/01"'),
            "kiosk.kiosk_id: String should match pattern",
        ),
        (("fps = 15", "fps = -1"), "camera.fps: Input should be greater than 0"),
        (("hold_s = 3.0", "hold_secs = 3.0"), "indicator.hold_secs: unknown key"),
        (('mode = "self"', 'mode = "auto"'), "kiosk.mode: Input should be 'self' or 'assisted'"),
    ],
)
def test_a_bad_value_is_reported_with_its_key(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    text = EXAMPLE.read_text()
    assert edit[0] in text
    path = tmp_path / "kiosk.toml"
    path.write_text(text.replace(edit[0], edit[1]))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
