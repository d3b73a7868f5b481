"""The hub's HTTP JSON API for operators (see hub/api/app.py)."""

from hub.api.app import API, MAX_BODY_BYTES, SESSION_COOKIE, ApiSettings, create_app

__all__ = ["API", "MAX_BODY_BYTES", "SESSION_COOKIE", "ApiSettings", "create_app"]
