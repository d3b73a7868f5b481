"""`kiosk screen-session`, the launcher common/systemd/kiosk-screen.service runs on the display, headless.

The real command in a subprocess, from a real config file, against a real screen server: it waits for
the server before starting Chromium, the page renders and follows the kiosk's state (read through the
DevTools protocol), a SIGKILLed browser is started again by the launcher's own loop, and SIGTERM ends
the launcher with every Chromium process it started and removes their profiles.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from playwright.sync_api import Error as PlaywrightError

from kiosk.config import ScreenConfig
from kiosk.screen.server import ScreenServer
from kiosk.screen.session import KIOSK_FLAGS, BrowserSupervisor, chromium_command, screen_url
from kiosk.screen.state import ScreenState
from kiosk.verify.verdict import Outcome, PayloadKind, Verdict
from testkit.linkrig import wait_for
from tests.kiosk.screen.test_screen_fit import assert_fits
from tests.support.browser import find_chromium

TITLE = "Trạm kiểm soát · Checkpoint"
STARTED = re.compile(r"browser started \(pid (\d+)\)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_browser_command_comes_from_the_screen_config(tmp_path: Path) -> None:
    config = ScreenConfig(port=8123, size=(1024, 600), browser="/usr/bin/chromium")
    command = chromium_command(config, tmp_path / "p", wayland=True, sandbox=True)
    assert command[0] == "/usr/bin/chromium" and command[-1] == "--app=http://127.0.0.1:8123/"
    assert set(KIOSK_FLAGS) <= set(command)
    for flag in ("--kiosk", "--no-first-run", "--disable-pinch", "--touch-events=enabled", "--noerrdialogs"):
        assert flag in command
    assert f"--user-data-dir={tmp_path / 'p'}" in command and "--window-size=1024,600" in command
    assert "--ozone-platform=wayland" in command
    assert not [f for f in command if f.startswith(("--headless", "--remote-debugging", "--no-sandbox"))]
    # Nothing but the loopback resolves or connects (tested for real in the session test below).
    assert "--proxy-server=http://127.0.0.1:9" in command
    rules = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, EXCLUDE ::1"
    assert rules in command
    on_lan = chromium_command(ScreenConfig(host="10.0.0.5", port=80), tmp_path)
    assert on_lan[-1] == "--app=http://10.0.0.5:80/" and "--proxy-bypass-list=10.0.0.5" in on_lan
    assert any(f.startswith("--host-resolver-rules=") and f.endswith(", EXCLUDE 10.0.0.5") for f in on_lan)

    headless = chromium_command(config, tmp_path, headless=True, debug_port=9222, sandbox=False)
    assert "--headless=new" in headless and "--ozone-platform=wayland" not in headless
    assert "--screen-info={1024x600}" in headless  # the headless screen is the display's size
    assert "--remote-debugging-port=9222" in headless and "--remote-debugging-address=127.0.0.1" in headless
    assert "--no-sandbox" in headless  # root only (a test container): the unit runs as its own user

    assert screen_url(ScreenConfig(host="0.0.0.0", port=80)) == "http://127.0.0.1:80/"
    assert screen_url(ScreenConfig(host="::1", port=80)) == "http://[::1]:80/"
    with pytest.raises(ValueError, match=r"screen\.port is 0"):
        screen_url(ScreenConfig(port=0))


class Launcher:
    """`kiosk screen-session` in a subprocess, its log read line by line."""

    def __init__(self, config: Path, debug_port: int, profiles: Path, parent: tuple[str, ...] = ()) -> None:
        self.debug_port = debug_port
        self.profiles = profiles
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [*parent, sys.executable, "-m", "kiosk.cli", "screen-session", "--config", str(config),
             "--headless", "--remote-debugging-port", str(debug_port), "--profile-root", str(profiles)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line.rstrip())

    def log(self) -> str:
        return "\n".join(line for line in self.lines if "screen-session" in line)

    def browser_pids(self) -> list[int]:
        return [int(m.group(1)) for line in list(self.lines) if (m := STARTED.search(line))]

    def wait_started(self, count: int) -> int:
        wait_for(lambda: len(self.browser_pids()) >= count, 60, f"browser start #{count}:\n{self.log()}")
        return self.browser_pids()[count - 1]

    def leftovers(self) -> list[str]:
        """Processes still running with a profile of this launcher on their command line."""
        found = subprocess.run(["pgrep", "-af", str(self.profiles)], capture_output=True, text=True).stdout
        return [line for line in found.splitlines() if "pgrep" not in line]


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[..., Launcher]]:
    started: list[Launcher] = []

    def start(screen_port: int, parent: tuple[str, ...] = ()) -> Launcher:
        config = tmp_path / "kiosk.toml"
        config.write_text(
            '[kiosk]\nkiosk_id = "road-1"\ncheckpoint_id = "ql1a-km12"\nmode = "assisted"\n'
            f'[screen]\nport = {screen_port}\nsize = [800, 480]\nbrowser = "{find_chromium()}"\n'
        )
        launcher = Launcher(config, free_port(), tmp_path / "profiles", parent)
        started.append(launcher)
        return launcher

    yield start
    for launcher in started:  # whatever the test did: no launcher and no Chromium of ours outlives it
        if launcher.process.poll() is None:
            launcher.process.kill()
            launcher.process.wait(30)
        for pid in launcher.browser_pids():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


def screen_tab(chromium: Browser, launcher: Launcher, url: str) -> tuple[Browser, Page]:
    """The launcher's browser over the DevTools protocol, and its tab showing the kiosk page."""
    endpoint = f"http://127.0.0.1:{launcher.debug_port}"
    browser: Browser | None = None

    def connected() -> bool:
        nonlocal browser
        try:
            browser = chromium.browser_type.connect_over_cdp(endpoint, timeout=5_000)
            return True
        except Exception:  # not listening yet
            return False

    wait_for(connected, 60, f"DevTools on {endpoint}:\n{launcher.log()}")
    assert browser is not None
    pages = [p for context in browser.contexts for p in context.pages if p.url == url]
    assert pages, f"no tab shows {url}: {[p.url for c in browser.contexts for p in c.pages]}"
    return browser, pages[0]


def test_session_waits_for_the_screen_shows_it_and_restarts_a_killed_browser(
    launch: Callable[..., Launcher], chromium: Browser
) -> None:
    port = free_port()
    launcher = launch(port)
    # The kiosk service is not up yet (a boot, a restart): the launcher waits, no browser starts.
    wait_for(lambda: "waiting for the kiosk's screen" in launcher.log(), 60, f"waiting:\n{launcher.log()}")
    time.sleep(1.5)  # a poll or two
    assert launcher.browser_pids() == [] and launcher.process.poll() is None, launcher.log()

    state = ScreenState(hold_s=300, assisted=True)
    server = ScreenServer(state, port=port).start()
    try:
        first = launcher.wait_started(1)
        browser, page = screen_tab(chromium, launcher, server.url)
        expect(page).to_have_title(TITLE)
        expect(page.locator("#verdict")).to_have_class("idle")
        state.show(Verdict(Outcome.PASS, PayloadKind.CCCD, ("valid_pass",), "Mời qua", "Go ahead"), "e-1")
        expect(page.locator("#verdict")).to_have_class("PASS")  # the live page, not a stale load
        size = page.evaluate("() => [window.innerWidth, window.innerHeight]")
        assert size == [800, 480], size  # full screen on a screen of [screen] size
        assert_fits(page, assisted=True)  # the officer's column too, unscrolled
        # The kiosk's browser reaches nothing off the machine: an address goes to the dead proxy.
        probe = page.context.new_page()
        with pytest.raises(PlaywrightError, match="ERR_PROXY_CONNECTION_FAILED"):
            probe.goto("http://192.0.2.1/")  # TEST-NET-1: no machine anywhere
        with pytest.raises(PlaywrightError, match=r"ERR_PROXY_CONNECTION_FAILED|ERR_NAME_NOT_RESOLVED"):
            probe.goto("http://example.com/")  # (not closed: closing a kiosk window hangs; killed below)
        browser.close()  # the DevTools connection only: the launcher's browser stays

        os.kill(first, signal.SIGKILL)  # a crash, an OOM kill
        second = launcher.wait_started(2)
        assert second != first
        assert re.search(rf"pid {first}\) exited with code -9", launcher.log()), launcher.log()
        browser, page = screen_tab(chromium, launcher, server.url)
        expect(page).to_have_title(TITLE)
        expect(page.locator("#verdict")).to_have_class("PASS")
        browser.close()
    finally:
        server.stop()

    launcher.process.send_signal(signal.SIGTERM)
    assert launcher.process.wait(60) == 0, launcher.log()
    assert launcher.leftovers() == [], launcher.leftovers()
    assert list(launcher.profiles.iterdir()) == []  # each browser's profile went with it


def answering_server() -> ScreenServer:
    return ScreenServer(ScreenState(hold_s=30, assisted=False), port=0).start()


def test_a_browser_that_keeps_failing_is_retried_ever_more_slowly(tmp_path: Path) -> None:
    """A missing or broken browser must not spin the CPU the kiosk decodes with: 0.2 s, 0.4 s, 0.8 s..."""
    server = answering_server()
    supervisor = BrowserSupervisor(
        server.url, lambda profile: ["false", str(profile)], tmp_path, restart_delay_s=0.2, max_delay_s=0.8
    )
    thread = threading.Thread(target=supervisor.run)
    thread.start()
    try:
        wait_for(lambda: len(supervisor.exits) >= 5, 60, "five exits")
    finally:
        supervisor.stop()
        thread.join(30)
        server.stop()
    assert not thread.is_alive()
    first = supervisor.exits[:5]  # (a sixth may have been running when stopped: SIGTERM)
    assert all(e.returncode == 1 for e in first), supervisor.exits
    gaps = [b.started - (a.started + a.ran_s) for a, b in itertools.pairwise(first)]
    # Each wait at least its delay (a lower bound only: more on a loaded machine), doubling to the cap.
    assert all(gap >= delay for gap, delay in zip(gaps, (0.2, 0.4, 0.8, 0.8), strict=True)), gaps
    assert list(tmp_path.iterdir()) == []  # every per-start profile was removed


def test_stopping_ends_the_browsers_whole_process_group(tmp_path: Path) -> None:
    """Chromium runs helpers (zygote, renderers, GPU): stopping must end them all, not just the first."""
    server = answering_server()
    pids = tmp_path / "pids"
    script = f"sleep 300 & echo $! > {pids}; exec sleep 300"
    supervisor = BrowserSupervisor(server.url, lambda profile: ["sh", "-c", script], tmp_path / "profiles")
    thread = threading.Thread(target=supervisor.run)
    thread.start()
    try:
        wait_for(lambda: pids.exists() and pids.read_text().strip() != "", 30, "the helper's pid")
        helper, leader = int(pids.read_text()), supervisor.pid
        assert leader is not None
    finally:
        supervisor.stop()
        thread.join(30)
        server.stop()
    assert not thread.is_alive()
    for pid in (helper, leader):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def ended(pid: int) -> bool:
    """Gone, or a zombie waiting for whoever adopted it to reap it."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return True


def test_session_ends_with_its_compositor(launch: Callable[..., Launcher]) -> None:
    """cage killed: the launcher (adopted by init) ends and takes its browser along, for systemd to
    restart the whole session, instead of restarting a browser forever with no display to draw on."""
    server = answering_server()
    try:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        # `sh` plays cage: the launcher's parent, printing the launcher's pid.
        launcher = launch(port, ("sh", "-c", '"$@" & echo $!; wait', "sh"))
        assert launcher.process.stdout is not None
        session = int(launcher.process.stdout.readline())
        browser = launcher.wait_started(1)
        launcher.process.kill()
        launcher.process.wait(30)
        wait_for(lambda: ended(session) and ended(browser), 60, f"the session to end:\n{launcher.log()}")
        wait_for(lambda: launcher.leftovers() == [], 60, f"no browser left: {launcher.leftovers()}")
        assert "the compositor) is gone" in "\n".join(launcher.lines), launcher.log()
    finally:
        server.stop()
