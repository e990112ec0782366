"""A webhook: each notification is POSTed as JSON to one URL.

The body is ``{"event": <event>, **payload}``.  A delivery is reported by its
HTTP status, or as failed with the transport error's type; the URL (which may
carry a token in its path or query) is never put in a report, a log line or a
``repr``.  ``transport`` is httpx's seam: tests pass an ``httpx.MockTransport``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from harbourmaster.notify.interface import Delivery, Notification, Notifier, NotifyError

if TYPE_CHECKING:
    import httpx

__all__ = ["WebhookNotifier"]

log = logging.getLogger(__name__)


class WebhookNotifier(Notifier):
    """POSTs each notification to ``url`` (http or https), waiting at most ``timeout`` seconds for each."""

    def __init__(
        self, url: str, *, timeout: float = 5.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        """Raises:
        NotifyError: ``url`` is not an absolute http(s) URL (the message does not repeat it).
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise NotifyError("the webhook URL must be an absolute http:// or https:// URL")
        self._url = url
        self._host = parts.hostname
        self._timeout = timeout
        self._transport = transport

    def __repr__(self) -> str:
        return f"WebhookNotifier(host={self._host!r})"

    def send(self, notifications: Sequence[Notification]) -> list[Delivery]:
        if not notifications:
            return []
        import httpx  # only when something is sent: the CLI does not load httpx for nothing

        deliveries: list[Delivery] = []
        with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
            for note in notifications:
                body = {"event": note.event, **note.payload}
                try:
                    response = client.post(self._url, json=body)
                except httpx.HTTPError as exc:
                    log.warning(
                        "webhook for %s to %s failed: %s", note.subject, self._host, type(exc).__name__
                    )
                    deliveries.append(Delivery(note.subject, False, f"failed ({type(exc).__name__})"))
                    continue
                deliveries.append(
                    Delivery(note.subject, response.is_success, f"HTTP {response.status_code}")
                )
        return deliveries
