"""What time it is, for everything that asks: one :class:`Clock`, injected.

The domain never reads the clock (it is given ``today``); services ask the core's
clock (``hm.clock``), so tests can fix or advance time instead of waiting for it.
:class:`SystemClock` is the real one, chosen by the composition root
(:mod:`harbourmaster.bootstrap`).  Like :mod:`harbourmaster.errors` and
:mod:`harbourmaster.settings`, this module is a leaf every layer may import.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod

__all__ = ["Clock", "SystemClock"]


class Clock(ABC):
    """The current moment and the current date."""

    @abstractmethod
    def now(self) -> dt.datetime:
        """The current moment, timezone-aware, in UTC."""

    @abstractmethod
    def today(self) -> dt.date:
        """The current date: what credential expiry, allowlist entries and decisions are judged by."""


class SystemClock(Clock):
    """The operating system's clock; ``today`` is the local date (as an operator reads an expiry date)."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def today(self) -> dt.date:
        return dt.date.today()

    def __repr__(self) -> str:
        return "SystemClock()"
