"""Cron expressions (five fields, UTC), read with ``croniter``: the one place its errors are translated.

Only the five standard fields are accepted (minute, hour, day of month, month, day of week): no
seconds or years column, no ``@daily`` nicknames, no Jenkins ``H``.  An expression that can never
match (``0 0 30 2 *``) is refused too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from croniter import CroniterError, croniter

from harbourmaster.errors import BadInput

__all__ = ["CronExpression", "CronInvalid", "parse_cron"]

#: Any fixed time works: a valid expression matches at least once in the next years from it.
_PROBE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class CronInvalid(BadInput):
    """A cron expression that is not one of five fields that can match."""


@dataclass(frozen=True, slots=True)
class CronExpression:
    """A checked cron expression; times are UTC."""

    text: str

    def latest(self, at: dt.datetime) -> dt.datetime:
        """The latest time the expression names at or before ``at`` (UTC)."""
        # croniter's previous time is strictly before its start: start just after ``at``.
        start = _utc(at) + dt.timedelta(microseconds=1)
        return _utc(croniter(self.text, start).get_prev(dt.datetime))

    def following(self, after: dt.datetime) -> dt.datetime:
        """The first time the expression names strictly after ``after`` (UTC)."""
        return _utc(croniter(self.text, _utc(after)).get_next(dt.datetime))


def _utc(at: dt.datetime) -> dt.datetime:
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def parse_cron(text: str, *, field: str) -> CronExpression:
    """The cron expression ``text``; ``field`` names it in the error.

    Raises:
        CronInvalid: not five fields, a field out of range or not understood, or never matching.
    """
    fields = text.split()
    if len(fields) != 5:
        raise CronInvalid(
            f"{field}: {text!r} is not a cron expression of five fields "
            "(minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\")"
        )
    try:
        expression = croniter(" ".join(fields), _PROBE)
        expression.get_next(dt.datetime)
    except (CroniterError, ValueError) as exc:
        raise CronInvalid(f"{field}: {text!r} is not a valid cron expression ({exc})") from exc
    return CronExpression(" ".join(fields))
