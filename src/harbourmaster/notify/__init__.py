"""Notifications to the outside: the :class:`Notifier` interface and its backends.

Importing this package is cheap: the webhook backend loads httpx only when it sends.
"""

from __future__ import annotations

from harbourmaster.notify.disabled import DisabledNotifier
from harbourmaster.notify.interface import Delivery, Notification, Notifier, NotifyError
from harbourmaster.notify.webhook import WebhookNotifier

__all__ = ["Delivery", "DisabledNotifier", "Notification", "Notifier", "NotifyError", "WebhookNotifier"]
