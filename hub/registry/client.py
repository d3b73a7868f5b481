"""HTTP client for the registry contract (docs/registry-api.md), standard library only.

Every call has a timeout; a refused connection, a timeout or a reset comes back as `status=None` with the
error text, never as an exception, so the forwarder handles every failure the same way.

The bearer token goes to the configured registry and nowhere else: redirects are never followed (a 3xx
comes back as the answer, which the forwarder retries, and the operator fixes the URL), and the URL must
be HTTPS unless it points at this machine (loopback: tests, the demo, a local TLS-terminating proxy).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

MAX_ERROR_BODY = 4096
# A registry answer is a small acknowledgement or a page of flag changes; one larger than this is cut
# off and treated as no answer (retried), instead of being read and parsed whole.
MAX_REPLY_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Reply:
    """The registry's answer; `status` None means no HTTP answer at all (see `error`)."""

    status: int | None
    body: str
    error: str | None = None


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_registry_url(url: str) -> str:
    """The URL if the token may be sent to it: https://, or http:// to a loopback address only."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{url!r}: expected https://host[:port][/path]")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(
            f"{url!r}: the bearer token would travel in clear; use https:// (http only to loopback)"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"{url!r}: no credentials, query or fragment in the registry URL")
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand a 3xx back as the answer instead of re-sending the request (and the token) elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass(frozen=True)
class RegistryClient:
    base_url: str
    token: str
    timeout_s: float = 10.0
    max_reply_bytes: int = MAX_REPLY_BYTES

    def __post_init__(self) -> None:
        check_registry_url(self.base_url)

    def _request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        req = urllib.request.Request(
            self.base_url.rstrip("/") + path,
            data=body,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json", **headers},
        )
        try:
            with _OPENER.open(req, timeout=self.timeout_s) as resp:
                data = resp.read(self.max_reply_bytes + 1)
                if len(data) > self.max_reply_bytes:
                    return Reply(None, "", f"reply over {self.max_reply_bytes} bytes: not read")
                return Reply(resp.status, data.decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            text = exc.read(MAX_ERROR_BODY).decode("utf-8", "replace")
            if 300 <= exc.code < 400:
                where = exc.headers.get("Location", "?")
                return Reply(exc.code, text, f"redirect to {where} refused: fix registry.url")
            return Reply(exc.code, text)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:  # refused, timeout, reset
            reason = getattr(exc, "reason", exc)
            return Reply(None, "", f"{type(reason).__name__}: {reason}")

    def post_passages(self, events: list[dict[str, Any]], idempotency_key: str) -> Reply:
        """`POST /v1/passages` with a JSON array of events."""
        data = json.dumps(events, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        return self._request("POST", "/v1/passages", data, headers)

    def get_flags(self, since: int) -> Reply:
        """`GET /v1/flags?since=VERSION`: flag changes after `since`."""
        return self._request("GET", f"/v1/flags?since={int(since)}", None, {})
