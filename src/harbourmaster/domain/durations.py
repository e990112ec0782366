"""Durations written by people (``14d``, ``2w``, ``36h``, ``30m``), bounded.

Every duration or lifetime a caller gives goes through :func:`parse_duration`
with the largest value that makes sense for it, so a number too large for a
date (``99999999999999999999d``) is a validation error that names the input,
never an overflow.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

from harbourmaster.errors import BadInput

__all__ = [
    "MAX_TOKEN_LIFETIME",
    "MAX_WINDOW",
    "DurationError",
    "describe_duration",
    "parse_duration",
]

#: The longest look-back or look-ahead window (``credentials expiring --within``, ``vulns --since``).
MAX_WINDOW: Final = dt.timedelta(days=36_500)
#: The longest lifetime an API token may be given (about 10 years).
MAX_TOKEN_LIFETIME: Final = dt.timedelta(days=3_650)

_UNIT_SECONDS: Final = {"m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
_UNIT_WORDS: Final = {"m": "30m", "h": "36h", "d": "14d", "w": "2w"}
# Anything longer cannot be below any maximum here (and int() of a huge string is slow).
_MAX_DIGITS: Final = 12
_SHOWN: Final = 40


class DurationError(BadInput):
    """A duration is malformed or outside its allowed range."""

    kind = "invalid-duration"


def describe_duration(value: dt.timedelta) -> str:
    """``3650 days (10 years)``, ``36500 days (100 years)``, ``36 hours``: for messages."""
    seconds = int(value.total_seconds())
    if seconds % 86_400 == 0:
        days = seconds // 86_400
        years = f" ({days // 365} years)" if days % 365 == 0 and days >= 365 else ""
        return _plural(days, "day") + years
    if seconds % 3_600 == 0:
        return _plural(seconds // 3_600, "hour")
    return _plural(seconds // 60, "minute")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def parse_duration(
    text: str,
    *,
    field: str,
    maximum: dt.timedelta,
    minimum: dt.timedelta = dt.timedelta(0),
    units: str = "hdw",
) -> dt.timedelta:
    """``14d``, ``2w``, ``36h`` (and ``30m`` when ``units`` has ``m``) → a timedelta.

    Raises:
        DurationError: naming ``field``: ``text`` is not ASCII digits followed
            by one of ``units``, or is below ``minimum`` or above ``maximum``.
    """
    shown = repr(text) if len(text) <= _SHOWN else repr(text[:_SHOWN]) + "..."
    t = text.strip().lower()
    number, unit = t[:-1], t[-1:]
    if not number or unit not in units or not (number.isascii() and number.isdigit()):
        examples = ", ".join(_UNIT_WORDS[u] for u in units)
        raise DurationError(f"{field}: {shown} is not a duration; use a number and a unit, e.g. {examples}")
    limit = f"the maximum is {describe_duration(maximum)}"
    if len(number) > _MAX_DIGITS:
        raise DurationError(f"{field}: {shown} is too long a duration; {limit}")
    seconds = int(number) * _UNIT_SECONDS[unit]
    if seconds > maximum.total_seconds():
        raise DurationError(f"{field}: {shown} is too long a duration; {limit}")
    value = dt.timedelta(seconds=seconds)
    if value < minimum:
        raise DurationError(f"{field}: {shown} is too short; the minimum is {describe_duration(minimum)}")
    return value
