"""The notification layer's interface: telling someone outside harbourmaster that something happened.

A :class:`Notifier` delivers :class:`Notification` values (an event name, what it
is about, and a JSON payload) and says what became of each one as a
:class:`Delivery`.  A delivery that fails is reported, never raised: a
notification is news about work already done and committed, so it cannot undo
it.  The backends live beside this module: :mod:`~harbourmaster.notify.webhook`
(an HTTP POST per notification) and :mod:`~harbourmaster.notify.disabled`
(nowhere configured: nothing is sent).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harbourmaster.errors import BadInput

__all__ = ["Delivery", "Notification", "Notifier", "NotifyError"]


class NotifyError(BadInput):
    """A notifier's configuration is unusable (its destination is not a URL it can send to)."""

    kind = "notify"


@dataclass(frozen=True, slots=True)
class Notification:
    """One event to tell about: ``event`` names it (``image.newly-affected``), ``subject`` is what it is
    about (an image digest, used in the delivery report) and ``payload`` is JSON data."""

    event: str
    subject: str
    payload: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What became of one notification: ``delivered`` and a short ``outcome`` (``HTTP 204``,
    ``failed (ConnectError)``) that never quotes the destination."""

    subject: str
    delivered: bool
    outcome: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.outcome}"


class Notifier(ABC):
    """Delivers notifications somewhere."""

    @abstractmethod
    def send(self, notifications: Sequence[Notification]) -> list[Delivery]:
        """Deliver each notification in order; one :class:`Delivery` per notification sent (none when
        there is nowhere to send them).  A failed delivery is in its :class:`Delivery`, not raised."""
