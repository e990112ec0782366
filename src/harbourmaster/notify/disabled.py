"""The notifier when no destination is configured: nothing is sent, nothing is reported."""

from __future__ import annotations

from collections.abc import Sequence

from harbourmaster.notify.interface import Delivery, Notification, Notifier

__all__ = ["DisabledNotifier"]


class DisabledNotifier(Notifier):
    """Sends nothing (``HARBOURMASTER_VULN_WEBHOOK_URL`` is unset)."""

    def send(self, notifications: Sequence[Notification]) -> list[Delivery]:
        del notifications
        return []

    def __repr__(self) -> str:
        return "DisabledNotifier()"
