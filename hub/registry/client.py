"""HTTP client for the registry contract (docs/registry-api.md), standard library only.

Every call has a timeout; a refused connection, a timeout or a reset comes back as `status=None` with the
error text, never as an exception, so the forwarder handles every failure the same way.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

MAX_ERROR_BODY = 4096


@dataclass(frozen=True)
class Reply:
    """The registry's answer; `status` None means no HTTP answer at all (see `error`)."""

    status: int | None
    body: str
    error: str | None = None


@dataclass(frozen=True)
class RegistryClient:
    base_url: str
    token: str
    timeout_s: float = 10.0

    def _request(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Reply:
        req = urllib.request.Request(
            self.base_url.rstrip("/") + path,
            data=body,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return Reply(resp.status, resp.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            text = exc.read(MAX_ERROR_BODY).decode("utf-8", "replace")
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
