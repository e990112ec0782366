"""The root of harbourmaster's error tree.

Every layer raises a subclass of :class:`Error`; the CLI and the API catch the
root once and render it (an exit code, or an ``application/problem+json``).
Messages name the thing that failed and, where useful, what to do about it.
They never contain a secret.
"""

from __future__ import annotations

__all__ = [
    "BadInput",
    "Conflict",
    "Error",
    "Forbidden",
    "NotFound",
    "Unauthenticated",
]


class Error(Exception):
    """Base of every error harbourmaster raises on purpose."""

    #: HTTP status used when the error crosses the API boundary.
    status: int = 500
    #: A short, stable machine-readable kind, used as the problem ``type`` suffix.
    kind: str = "error"

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: list[str] = list(details or [])

    def diagnostics(self) -> str:
        """A human-readable explanation: the message, then one line per detail."""
        lines = [self.message]
        lines.extend(f"  - {d}" for d in self.details)
        return "\n".join(lines)


class BadInput(Error):
    """The caller's input is malformed or violates a rule."""

    status = 422
    kind = "bad-input"


class NotFound(Error):
    status = 404
    kind = "not-found"


class Conflict(Error):
    status = 409
    kind = "conflict"


class Unauthenticated(Error):
    status = 401
    kind = "unauthenticated"


class Forbidden(Error):
    status = 403
    kind = "forbidden"
