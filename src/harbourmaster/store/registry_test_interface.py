"""The last "test connection" result of each registry (implemented by
:mod:`harbourmaster.store.registry_tests`; written by
:func:`harbourmaster.services.registry_probe.test_registry`).

One row per registry name, replaced by each test.  The registry's URL at test time is kept with it, so a
registry defined again elsewhere under the same name does not inherit a result it never had.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["LastTest", "RegistryTestRepository"]


@dataclass(frozen=True, kw_only=True)
class LastTest:
    registry: str
    #: The registry's URL when it was tested.
    url: str
    tested_at: dt.datetime
    tested_by: str
    ok: bool
    #: What the test found, in words (the first failure's kind and message, or what succeeded).
    summary: str
    latency_ms: float | None = None


class RegistryTestRepository(ABC):
    @abstractmethod
    def record(self, test: LastTest) -> None:
        """Keep ``test`` as its registry's last, replacing the one before."""

    @abstractmethod
    def latest(self) -> dict[str, LastTest]:
        """The last test of each registry that has one, by name."""
