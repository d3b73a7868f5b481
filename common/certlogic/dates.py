"""Date-times of CertLogic: parsing the allowed formats, `plusTime` offsets, `dccDateOfBirth`.

The specification defines offsets through the JavaScript `Date` API (`setUTCFullYear`,
`setUTCMonth`, `setUTCDate`, `setUTCHours`): the day of month is kept and overflows into the next
month when too large (2020-02-29 + 1 year = 2021-03-01, 2020-01-31 + 1 month = 2020-03-02). That is
done here with plain integer calendar arithmetic on milliseconds since the epoch (proleptic
Gregorian, UTC), which has no year-1..9999 limit like `datetime` and no DST; results outside the
range of a JavaScript `Date` (±8.64e15 ms, about ±275,000 years) are an error, as is any string
that is not one of the formats the specification lists or names an impossible date or time (the
specification leaves those undefined; refusing them is the safe reading for a validation rule).

Parsing is cached: the kiosk evaluates about ten rules per certificate that all read the same
handful of date strings (validation clock, vaccination/test/recovery dates, date of birth).
"""

from __future__ import annotations

import datetime as _dt
import functools
import re

from common.certlogic.errors import CertLogicError

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
# The range of a JavaScript Date (ECMA-262 "Time Values and Time Range"): ±100,000,000 days.
MAX_EPOCH_MS = 8_640_000_000_000_000

TIME_UNITS = ("year", "month", "day", "hour")

# Strings longer than this are parsed but never cached (a fraction may have any number of digits:
# a hostile megabyte-long one must not be pinned in the cache).
_MAX_CACHED_LEN = 64

_DATE_TIME = re.compile(
    r"(\d{4})(?:-(\d{2})(?:-(\d{2})"
    r"(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:(Z)|([+-])(\d{1,2})(?::?(\d{2}))?)?)?"
    r")?)?",
    re.ASCII,
)
_DATE_OF_BIRTH = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?", re.ASCII)


class DateTime:
    """A CertLogic date-time: an instant with millisecond precision (what `plusTime` and
    `dccDateOfBirth` produce; only `after`/`before`/`not-after`/`not-before` compare them).

    A distinct type, not an int or a `datetime`, so that integer operations refuse it and date-time
    comparisons refuse integers, as the specification requires.
    """

    __slots__ = ("ms",)

    def __init__(self, ms: int) -> None:
        if not -MAX_EPOCH_MS <= ms <= MAX_EPOCH_MS:
            raise CertLogicError(f"date-time out of range: {ms} ms from the epoch")
        self.ms = ms

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DateTime):
            return self.ms == other.ms
        return NotImplemented

    def __lt__(self, other: object) -> bool:
        if isinstance(other, DateTime):
            return self.ms < other.ms
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, DateTime):
            return self.ms <= other.ms
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, DateTime):
            return self.ms > other.ms
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, DateTime):
            return self.ms >= other.ms
        return NotImplemented

    def __hash__(self) -> int:
        return hash((DateTime, self.ms))

    def __repr__(self) -> str:
        return f"DateTime({self.isoformat()!r})"

    def __str__(self) -> str:
        return self.isoformat()

    def isoformat(self) -> str:
        """UTC with milliseconds, like JavaScript's `Date.toISOString()`."""
        days, ms_of_day = divmod(self.ms, MS_PER_DAY)
        year, month, day = civil_from_days(days)
        seconds, ms = divmod(ms_of_day, 1000)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        year_text = f"{year:04d}" if 0 <= year <= 9999 else f"{year:+07d}"
        return f"{year_text}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{ms:03d}Z"

    def to_datetime(self) -> _dt.datetime:
        """An aware UTC `datetime` (ValueError/OverflowError outside years 1..9999)."""
        return _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC) + _dt.timedelta(milliseconds=self.ms)


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date; `day` may overflow the month (JS-style).

    Howard Hinnant's algorithm, exact for any integer year (Python integers do not overflow).
    """
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468 + (day - 1)


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day count since 1970-01-01 (inverse of `days_from_civil`)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _date_days(year: int, month_text: str | None, day_text: str | None, original: str) -> int:
    """Days since the epoch of YYYY[-MM[-DD]], a partial date meaning its *last* possible day."""
    month = 12 if month_text is None else int(month_text)
    if not 1 <= month <= 12:
        raise CertLogicError(f"not a valid date: {_short(original)}")
    last = days_in_month(year, month)
    day = last if day_text is None else int(day_text)
    if not 1 <= day <= last:
        raise CertLogicError(f"not a valid date: {_short(original)}")
    return days_from_civil(year, month, day)


def parse_epoch_ms(text: str) -> int:
    """Milliseconds since the epoch of one of the date(-time) formats `plusTime` allows.

    Partial dates (YYYY, YYYY-MM) are read as `dccDateOfBirth` reads them; a missing time is
    midnight, a missing offset is `Z`; sub-millisecond decimals are dropped (rounding down).
    """
    m = _DATE_TIME.fullmatch(text)
    if m is None:
        raise CertLogicError(f"not an allowed date or date-time format: {_short(text)}")
    year_t, month_t, day_t, hour_t, minute_t, second_t, fraction, _z, sign, off_h, off_m = m.groups()
    days = _date_days(int(year_t), month_t, day_t, text)
    if hour_t is None:
        return days * MS_PER_DAY
    hour, minute, second = int(hour_t), int(minute_t), int(second_t)
    if hour > 23 or minute > 59 or second > 59:
        raise CertLogicError(f"not a valid time of day: {_short(text)}")
    ms = days * MS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000
    if fraction is not None:
        ms += int(fraction[:3].ljust(3, "0"))
    if sign is not None:
        offset_h, offset_m = int(off_h), int(off_m or 0)
        if offset_h > 23 or offset_m > 59:
            raise CertLogicError(f"not a valid timezone offset: {_short(text)}")
        offset_ms = (offset_h * 60 + offset_m) * 60_000
        ms -= offset_ms if sign == "+" else -offset_ms
    return ms


def _plus_time(text: str, amount: int, unit: str) -> DateTime:
    ms = parse_epoch_ms(text)
    if amount == 0:
        return DateTime(ms)
    if unit == "hour":
        return DateTime(ms + amount * MS_PER_HOUR)
    if unit == "day":
        return DateTime(ms + amount * MS_PER_DAY)
    if unit not in ("month", "year"):
        raise CertLogicError(f'unknown time unit "{unit}"')
    # Bound the amount before any calendar arithmetic: the result would be out of range anyway.
    if abs(amount) > 4_000_000:
        raise CertLogicError(f"plusTime amount out of range: {amount} {unit}(s)")
    days, ms_of_day = divmod(ms, MS_PER_DAY)
    year, month, day = civil_from_days(days)
    if unit == "year":
        year += amount
    else:
        year, month0 = divmod(year * 12 + month - 1 + amount, 12)
        month = month0 + 1
    # JS keeps the day of month and lets it overflow into the next month (Jan 31 + 1 month = Mar 2/3).
    return DateTime(days_from_civil(year, month, day) * MS_PER_DAY + ms_of_day)


_plus_time_cached = functools.lru_cache(maxsize=8192)(_plus_time)


def plus_time(text: str, amount: int, unit: str) -> DateTime:
    """The `plusTime` operation on an already evaluated string operand."""
    if len(text) <= _MAX_CACHED_LEN:
        return _plus_time_cached(text, amount, unit)
    return _plus_time(text, amount, unit)


def _dcc_date_of_birth(text: str) -> DateTime:
    m = _DATE_OF_BIRTH.fullmatch(text)
    if m is None:
        raise CertLogicError(f'can\'t parse "{_short(text)}" as an EU DCC date-of-birth')
    year_t, month_t, day_t = m.groups()
    return DateTime(_date_days(int(year_t), month_t, day_t, text) * MS_PER_DAY)


_dcc_date_of_birth_cached = functools.lru_cache(maxsize=4096)(_dcc_date_of_birth)


def dcc_date_of_birth(text: str) -> DateTime:
    """The `dccDateOfBirth` operation: the last instant-of-day consistent with YYYY[-MM[-DD]]."""
    if len(text) <= _MAX_CACHED_LEN:
        return _dcc_date_of_birth_cached(text)
    return _dcc_date_of_birth(text)
