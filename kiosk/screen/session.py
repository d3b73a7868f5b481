"""The kiosk page on the Pi's own display: Chromium, full screen, restarted whenever it dies.

`kiosk screen-session` runs this inside `cage` (a Wayland compositor that shows one application full
screen), started by common/systemd/kiosk-screen.service on tty1. It waits until the kiosk's screen server
answers (the kiosk service may still be starting, or restarting), then runs Chromium on the page and
starts it again after any exit: a crash, an out-of-memory kill, someone closing it. systemd restarts
the whole session (cage included) if this process itself dies. The same code runs headless in the
tests (`--headless`), against a real screen server.

Chromium gets a fresh profile directory per start, removed after it exits: nothing a citizen's
verdict put in the browser outlives it, and a killed browser has no "restore pages?" bubble to show.
It may reach the loopback interface (and the screen's own address) only: other host names do not
resolve and every other address is sent to a proxy that does not exist.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kiosk.config import ScreenConfig

log = logging.getLogger(__name__)

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})
# The kiosk is a single-purpose screen: no first-run wizard, translate bar, sync, crash bubble, pinch
# zoom or swipe navigation; touch on; nothing fetched in the background (updates, metrics, safe browsing).
KIOSK_FLAGS = (
    "--kiosk",
    "--no-first-run",
    "--no-default-browser-check",
    "--noerrdialogs",
    "--hide-crash-restore-bubble",
    "--disable-session-crashed-bubble",
    "--disable-infobars",
    "--disable-translate",
    "--disable-features=Translate,TranslateUI,OverscrollHistoryNavigation,MediaRouter,DialMediaRouteProvider",
    "--disable-pinch",
    "--overscroll-history-navigation=0",
    "--touch-events=enabled",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-component-update",
    "--disable-background-networking",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-breakpad",
    "--no-pings",
    "--password-store=basic",
)
LOOPBACK = ("localhost", "127.0.0.1", "::1")
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, every proxied request fails


def network_flags(host: str) -> list[str]:
    """Only the loopback interface and the screen's own host are reachable; nothing else resolves
    (host names) or connects (addresses go to a dead proxy, which Chromium bypasses for loopback)."""
    hosts = dict.fromkeys((*LOOPBACK, host))  # ordered, no duplicates
    flags = [
        f"--proxy-server={DEAD_PROXY}",
        "--host-resolver-rules=MAP * ~NOTFOUND, " + ", ".join(f"EXCLUDE {h}" for h in hosts),
    ]
    if host not in LOOPBACK:
        flags.append(f"--proxy-bypass-list={host}")
    return flags


def screen_host(config: ScreenConfig) -> str:
    """The address the browser reaches the screen at: a wildcard bind is reached on the loopback."""
    return "127.0.0.1" if config.host in WILDCARD_HOSTS else config.host.strip("[]")


def screen_url(config: ScreenConfig) -> str:
    """The page's address as this machine reaches it."""
    host = screen_host(config)
    if ":" in host:
        host = f"[{host}]"
    if config.port == 0:
        raise ValueError("screen.port is 0 (any free port): the browser needs the port the kiosk serves")
    return f"http://{host}:{config.port}/"


def chromium_command(
    config: ScreenConfig,
    profile_dir: Path,
    headless: bool = False,
    debug_port: int | None = None,
    wayland: bool | None = None,
    sandbox: bool | None = None,
) -> list[str]:
    """The browser's command line for this kiosk's screen (the same flags headless, plus the switch).

    Chromium refuses to run as root with its sandbox on; the unit runs it as its own user, so only a
    root shell (a test container) gets `--no-sandbox`."""
    width, height = config.size
    command = [
        config.browser,
        *KIOSK_FLAGS,
        *network_flags(screen_host(config)),
        f"--user-data-dir={profile_dir}",
        f"--window-size={width},{height}",
        "--window-position=0,0",
    ]
    if wayland is None:
        wayland = bool(os.environ.get("WAYLAND_DISPLAY"))
    if headless:  # a virtual screen of the display's size, which --kiosk fills as it fills the real one
        command += ["--headless=new", f"--screen-info={{{width}x{height}}}"]
    elif wayland:
        command.append("--ozone-platform=wayland")  # under cage: a Wayland client, no X server
    if not (os.geteuid() != 0 if sandbox is None else sandbox):
        command.append("--no-sandbox")
    if debug_port is not None:
        command += [f"--remote-debugging-port={debug_port}", "--remote-debugging-address=127.0.0.1"]
    command.append(f"--app={screen_url(config)}")
    return command


# Straight to the loopback: an http_proxy in the environment must not stand between us and the kiosk.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def screen_answers(url: str, timeout_s: float = 2.0) -> bool:
    """Whether the screen server serves its page now."""
    try:
        with _DIRECT.open(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError, ValueError):
        return False


@dataclass
class BrowserExit:
    pid: int
    returncode: int
    started: float  # time.monotonic()
    ran_s: float


class BrowserSupervisor:
    """Keeps one browser process running on the screen page until `stop()`.

    Each start waits for the screen server first. After an exit the browser starts again after
    `restart_delay_s`, doubled after each quick failure up to `max_delay_s` (a browser that cannot
    start must not spin the CPU the kiosk decodes with), back to the first delay after a good run.
    """

    def __init__(
        self,
        url: str,
        command: Callable[[Path], Sequence[str]],
        profile_root: Path,
        restart_delay_s: float = 1.0,
        max_delay_s: float = 30.0,
        good_run_s: float = 60.0,
        poll_s: float = 1.0,
    ) -> None:
        self.url = url
        self._command = command
        self.profile_root = profile_root
        self.restart_delay_s = restart_delay_s
        self.max_delay_s = max_delay_s
        self.good_run_s = good_run_s
        self.poll_s = poll_s
        self.stop_event = threading.Event()
        self.starts = 0
        self.exits: list[BrowserExit] = []
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        with self._lock:
            return None if self._process is None else self._process.pid

    def run(self) -> None:
        """Start, watch and restart the browser until stopped."""
        delay = self.restart_delay_s
        while not self.stop_event.is_set():
            if not self._wait_for_screen():
                break
            ended = self._run_once()
            if ended is None:  # stopped while it ran
                break
            delay = self.restart_delay_s if ended.ran_s >= self.good_run_s else delay
            log.warning(
                "screen-session: the browser (pid %d) exited with code %s after %.0f s; restarting in %.0f s",
                ended.pid,
                ended.returncode,
                ended.ran_s,
                delay,
            )
            if self.stop_event.wait(delay):
                break
            delay = min(delay * 2, self.max_delay_s)

    def stop(self) -> None:
        """Stop supervising and end the browser (its whole process group: renderers, zygotes, GPU)."""
        self.stop_event.set()
        with self._lock:
            process = self._process
        if process is not None:
            _end_group(process)

    def _wait_for_screen(self) -> bool:
        waiting_since = time.monotonic()
        said = False
        while not self.stop_event.is_set():
            if screen_answers(self.url):
                if said:
                    waited = time.monotonic() - waiting_since
                    log.info("screen-session: %s answers after %.0f s", self.url, waited)
                return True
            if not said:
                log.info("screen-session: waiting for the kiosk's screen at %s", self.url)
                said = True
            self.stop_event.wait(self.poll_s)
        return False

    def _run_once(self) -> BrowserExit | None:
        self.profile_root.mkdir(parents=True, exist_ok=True)
        profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=self.profile_root))
        try:
            command = list(self._command(profile))
            with self._lock:
                if self.stop_event.is_set():
                    return None
                try:
                    # Its own process group: stopping ends every Chromium helper process with it.
                    self._process = subprocess.Popen(
                        command, stdin=subprocess.DEVNULL, start_new_session=True
                    )
                except OSError as exc:
                    log.error("screen-session: cannot start %s: %s", command[0], exc)
                    return BrowserExit(0, 127, time.monotonic(), 0.0)
                process = self._process
                self.starts += 1
            started = time.monotonic()
            log.info("screen-session: browser started (pid %d): %s", process.pid, self.url)
            returncode = process.wait()
            _end_group(process)  # helpers a crashed browser left behind
            with self._lock:
                self._process = None
            ended = BrowserExit(process.pid, returncode, started, time.monotonic() - started)
            self.exits.append(ended)
            return None if self.stop_event.is_set() else ended
        finally:
            shutil.rmtree(profile, ignore_errors=True)


def _end_group(process: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """SIGTERM the process group, SIGKILL what is left of it after `grace_s`; reap the leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            process.poll()  # reaps the leader: a zombie would keep the group alive
            os.killpg(process.pid, 0)  # ProcessLookupError: the whole group is gone
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
