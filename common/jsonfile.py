"""Reading a JSON document an operator supplies (rule files, value sets): bounded, one error type.

Why: a file is read whole into memory and parsed; an oversized or broken one must give an error that
names the file, never a MemoryError or a traceback (the callers wrap it in their own error type).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json_file(path: Path, limit: int, error: type[ValueError]) -> Any:
    """The parsed JSON of `path`; `error(...)` naming the file if it is over `limit` bytes or not JSON."""
    data = path.read_bytes()[: limit + 1]
    if len(data) > limit:
        raise error(f"{path}: larger than {limit} bytes")
    try:
        return json.loads(data)
    except ValueError as exc:
        raise error(f"{path}: not JSON ({exc})") from None
