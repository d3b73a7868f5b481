"""Installs by role: one clear line, not a traceback, when a command runs without its role's extra.

A Raspberry Pi installs `qr-checkpoint[kiosk]` only, so there `hub` finds no FastAPI or SQLAlchemy. What each
extra needs is read from this distribution's own metadata (pyproject.toml's extras, as pip installed them),
never from a second list kept here.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, requires, version

from common.version import DISTRIBUTION

_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA = re.compile(r"""\bextra\s*==\s*['"]([^'"]+)['"]""")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def missing_for(extra: str) -> list[str]:
    """The distributions `extra` needs that are not installed (`qr-checkpoint[other]` entries followed).

    Empty when this distribution is not installed at all (run from a bare checkout: nothing to compare).
    """
    try:
        declared = requires(DISTRIBUTION) or []
    except PackageNotFoundError:
        return []
    missing: list[str] = []
    wanted = [r for r in declared if (m := _EXTRA.search(r)) and m.group(1) == extra]
    if not wanted:
        raise ValueError(f"{DISTRIBUTION} has no extra {extra!r}")
    for requirement in wanted:
        named = _NAME.match(requirement)
        if not named:
            continue
        name, extras = named.group(1), named.group(2)
        if _canonical(name) == _canonical(DISTRIBUTION):
            for other in filter(None, (e.strip() for e in (extras or "").split(","))):
                missing += [m for m in missing_for(other) if m not in missing]
            continue
        try:
            version(name)
        except PackageNotFoundError:
            missing.append(name)
    return missing


def require_extra(prog: str, extra: str, *, advise: str | None = None) -> None:
    """Exit with one line naming the extra to install when `extra`'s libraries are missing.

    `advise`: the extra to tell the operator to install, when it is a larger one holding `extra`.
    """
    missing = missing_for(extra)
    if missing:
        wanted = advise or extra
        raise SystemExit(
            f"{prog}: this install lacks the '{wanted}' extra (missing {', '.join(missing)});"
            f" install it with: pip install '{DISTRIBUTION}[{wanted}]'"
        )
