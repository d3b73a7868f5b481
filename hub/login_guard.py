"""Backoff for failed logins, per account name and per client address, so passwords cannot be guessed
at the speed of the network.

Each name or address may fail a few times freely; after that every further failure doubles the wait
before the next attempt is even looked at (up to a ceiling), and an attempt during the wait is answered
429 with the seconds to wait. The account count ends with a successful login; the address count does
not (an attacker with one account of their own could otherwise reset it between guesses) and is
forgotten once an address has been quiet for `forget_after`. Unknown names are counted exactly like
real ones, so the backoff itself does not reveal which accounts exist.

State is in memory: the hub is one process, and a restart forgetting the counts costs an attacker a
restart of the hub. Time is always passed in (`now`), so tests move the clock instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    free: int  # failures allowed before any wait
    first_wait: dt.timedelta  # the wait after the first failure over `free`; doubles after each one
    max_wait: dt.timedelta
    forget_after: dt.timedelta  # a key quiet for this long starts from zero

    def wait_after(self, failures: int) -> dt.timedelta:
        over = failures - self.free
        if over <= 0:
            return dt.timedelta(0)
        return min(self.max_wait, self.first_wait * 2 ** min(over - 1, 32))


ACCOUNT = Backoff(
    free=5, first_wait=dt.timedelta(seconds=2), max_wait=dt.timedelta(minutes=15),
    forget_after=dt.timedelta(hours=1),
)  # fmt: skip
# An office behind one NAT address shares this: more free failures, the same ceiling.
ADDRESS = Backoff(
    free=20, first_wait=dt.timedelta(seconds=2), max_wait=dt.timedelta(minutes=15),
    forget_after=dt.timedelta(hours=1),
)  # fmt: skip


@dataclass
class _Count:
    failures: int
    last: dt.datetime
    blocked_until: dt.datetime


@dataclass(frozen=True)
class Locked:
    """A failure that started (or extended) a wait: what the audit log records."""

    scope: str  # "account" or "address"
    key: str
    failures: int
    until: dt.datetime


class _Counter:
    """Failure counts for one kind of key, bounded in size (oldest forgotten first)."""

    def __init__(self, scope: str, policy: Backoff, max_keys: int) -> None:
        self.scope, self.policy, self.max_keys = scope, policy, max_keys
        self._counts: OrderedDict[str, _Count] = OrderedDict()

    def _get(self, key: str, now: dt.datetime) -> _Count | None:
        count = self._counts.get(key)
        if count is not None and now - count.last >= self.policy.forget_after and now >= count.blocked_until:
            del self._counts[key]
            return None
        return count

    def retry_after(self, key: str, now: dt.datetime) -> dt.timedelta:
        count = self._get(key, now)
        return max(dt.timedelta(0), count.blocked_until - now) if count else dt.timedelta(0)

    def failed(self, key: str, now: dt.datetime) -> Locked | None:
        count = self._get(key, now) or _Count(0, now, now)
        count.failures += 1
        count.last = now
        wait = self.policy.wait_after(count.failures)
        count.blocked_until = now + wait
        self._counts[key] = count
        self._counts.move_to_end(key)
        while len(self._counts) > self.max_keys:
            self._counts.popitem(last=False)
        return Locked(self.scope, key, count.failures, count.blocked_until) if wait else None

    def clear(self, key: str) -> None:
        self._counts.pop(key, None)


class LoginGuard:
    """Thread-safe (uvicorn runs sync routes in a thread pool)."""

    def __init__(
        self, account: Backoff = ACCOUNT, address: Backoff = ADDRESS, *, max_keys: int = 10_000
    ) -> None:
        self._lock = threading.Lock()
        self._account = _Counter("account", account, max_keys)
        self._address = _Counter("address", address, max_keys)

    def retry_after(self, username: str, address: str, now: dt.datetime) -> float:
        """Seconds before this name or address may try again (0: go ahead and check the password)."""
        with self._lock:
            wait = max(self._account.retry_after(username, now), self._address.retry_after(address, now))
        return wait.total_seconds()

    def failed(self, username: str, address: str, now: dt.datetime) -> list[Locked]:
        """Count a refused login; the waits it starts, if any."""
        with self._lock:
            started = [self._account.failed(username, now), self._address.failed(address, now)]
        return [s for s in started if s is not None]

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._account.clear(username)
