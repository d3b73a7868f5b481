"""A minimal client of the operators' API for scripts (the demo, the benchmark): log in, then call.

Standard library only: an operator's script on any machine needs nothing installed to flag a person.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from hub.api import API


class ApiClient:
    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.token: str | None = None

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST JSON to `/api/v1{path}`; the answer's JSON (HTTP errors raise urllib's HTTPError)."""
        req = urllib.request.Request(
            f"{self.base_url}{API}{path}", data=json.dumps(body).encode(), method="POST"
        )
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            return dict(json.loads(resp.read()))

    def login(self, username: str, password: str) -> ApiClient:
        self.token = self.post("/login", {"username": username, "password": password})["token"]
        return self

    def add_flag(self, target: str, status: str, note: str | None = None) -> int:
        """Flag a person; returns the new flag-list version (kiosks get it as a signed delta)."""
        return int(self.post("/flags", {"target": target, "status": status, "note": note})["version"])
