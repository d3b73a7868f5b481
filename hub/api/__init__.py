"""The hub's HTTP JSON API for operators: `create_app` (hub/api/app.py) over one router per domain."""

from hub.api.app import MAX_BODY_BYTES, create_app
from hub.api.deps import API, SESSION_COOKIE, ApiSettings

__all__ = ["API", "MAX_BODY_BYTES", "SESSION_COOKIE", "ApiSettings", "create_app"]
