"""A notifier that keeps what it was asked to send, and delivers it nowhere."""

from __future__ import annotations

from collections.abc import Sequence

from harbourmaster.notify.interface import Delivery, Notification, Notifier

__all__ = ["RecordingNotifier"]


class RecordingNotifier(Notifier):
    """Records every notification in :attr:`sent`; each is reported delivered with ``outcome``, unless
    its subject is in ``failing`` (then it is reported failed, as an unreachable webhook would be)."""

    def __init__(self, *, outcome: str = "HTTP 204", failing: Sequence[str] = ()) -> None:
        self.sent: list[Notification] = []
        self._outcome = outcome
        self._failing = set(failing)

    def send(self, notifications: Sequence[Notification]) -> list[Delivery]:
        out = []
        for note in notifications:
            self.sent.append(note)
            if note.subject in self._failing:
                out.append(Delivery(note.subject, False, "failed (ConnectError)"))
            else:
                out.append(Delivery(note.subject, True, self._outcome))
        return out
