"""The one error type for anything received off the wire that cannot be accepted."""


class WireError(ValueError):
    """A message that is malformed, unsigned, forged, stale or otherwise refused; the text says why."""
