"""The time a request may spend waiting for registries: a deadline threaded through a verdict.

An admission webhook must answer within the API server's timeout, so a decision taken for it is
given a :class:`RequestBudget`.  Pinning tags to digests, scanning an unscanned digest and verifying a
signature each wait at most what is left of it; what did not finish in time is judged as not known
(an unpinned tag, the tier's unscanned rule, an unverified signature), with the reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["RequestBudget"]


@dataclass(frozen=True, slots=True)
class RequestBudget:
    """``seconds`` to spend on registries from ``started`` (``time.monotonic()``)."""

    seconds: float
    started: float

    @classmethod
    def start(cls, seconds: float) -> RequestBudget:
        return cls(seconds=seconds, started=time.monotonic())

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self.deadline - time.monotonic())

    def spent(self) -> bool:
        return self.remaining() <= 0.0

    def ran_out(self, what: str) -> str:
        """Why ``what`` is not known: the budget ran out (the reason a part of the verdict carries)."""
        return f"{what}: time budget of {self.seconds:g} s ran out (HARBOURMASTER_ADMISSION_BUDGET_SECONDS)"
