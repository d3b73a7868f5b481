"""`kiosk doctor`: a field technician's one command to check a kiosk, and the same judgements for the
running service's status and metrics.

Two ways in, one set of judgements:

- `doctor_checks(config)` probes the parts from outside, as the technician would: opens the camera and
  measures its frame rate, decodes a test card held up to it, toggles the lights, reads the buttons,
  reads the clock and the time floor, connects to the broker with the kiosk's certificate, loads the
  trust, flag and rule files and reads the store's versions, writes a probe file to the state disk;
- `live_checks(service)` judges the same things from a running KioskService's own objects (it cannot
  open a camera or claim pins it already holds), cheaply enough to run on every status message and
  every scrape (no writes: an SD card must not be worn by monitoring).

Each check returns OK, WARN or FAIL with a one-line detail; `run_checks` gives each its own thread and a
timeout, so a camera driver or a broker that never answers makes that check FAIL and never hangs the
doctor. Any FAIL makes `kiosk doctor` exit non-zero. Details never carry a code's content or an id.
"""

from kiosk.doctor.checks import CheckResult, Level, run_checks, summary, worst
from kiosk.doctor.live import live_checks
from kiosk.doctor.probes import doctor_checks, probe_broker, probe_pins

__all__ = [
    "CheckResult", "Level", "doctor_checks", "live_checks", "probe_broker", "probe_pins", "run_checks",
    "summary", "worst",
]  # fmt: skip
