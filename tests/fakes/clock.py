"""A clock that stands still until a test moves it."""

from __future__ import annotations

import datetime as dt

from harbourmaster.clock import Clock

__all__ = ["FixedClock"]

#: Where unit tests start: a date between the example model's credential expiries and allowlist entries.
DEFAULT_START = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


class FixedClock(Clock):
    """Always ``at`` (aware), until :meth:`advance` or :meth:`set`; ``today`` is the date in UTC."""

    def __init__(self, at: dt.datetime = DEFAULT_START) -> None:
        self._at = self._checked(at)

    @staticmethod
    def _checked(at: dt.datetime) -> dt.datetime:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("a clock tells aware time: give a datetime with a time zone")
        return at.astimezone(dt.UTC)

    @classmethod
    def on(cls, day: dt.date) -> FixedClock:
        """Noon UTC on ``day``."""
        return cls(dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC))

    def now(self) -> dt.datetime:
        return self._at

    def today(self) -> dt.date:
        return self._at.date()

    def advance(self, by: dt.timedelta) -> dt.datetime:
        """Move forward by ``by`` (never backwards); the new time."""
        if by < dt.timedelta(0):
            raise ValueError("time does not go backwards")
        self._at += by
        return self._at

    def set(self, at: dt.datetime) -> None:
        self._at = self._checked(at)

    def __repr__(self) -> str:
        return f"FixedClock({self._at.isoformat()})"
