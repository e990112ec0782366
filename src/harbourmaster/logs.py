"""One logging configuration for every surface: JSON lines when not on a terminal, text on one.

Every line carries the id of the request (API) or job it belongs to, from a
context variable the surface sets (:func:`bound_ids`); ``-`` when there is
none.  Nothing here formats a secret: a :class:`~harbourmaster.domain.secret.Secret`
renders as its fixed redaction wherever it ends up, and the JSON formatter
writes only the message, the level, the logger, the ids and an exception's
traceback.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Literal

__all__ = ["JOB_ID", "REQUEST_ID", "bound_ids", "configure_logging"]

#: The id of the request being served (API), or ``None``.
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "harbourmaster_request_id", default=None
)
#: The id of the job being run (workers), or ``None``.
JOB_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("harbourmaster_job_id", default=None)

_HANDLER_NAME = "harbourmaster"


class _Ids(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get() or "-"
        record.job_id = JOB_ID.get() or "-"
        return True


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
            "job_id": getattr(record, "job_id", "-"),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


_TEXT = "%(asctime)s %(levelname)s %(name)s [request %(request_id)s job %(job_id)s] %(message)s"


def configure_logging(
    *,
    level: str = "info",
    fmt: Literal["auto", "json", "text"] = "auto",
    stream: IO[str] | None = None,
) -> logging.Handler:
    """Route harbourmaster's and uvicorn's loggers to one handler on ``stream`` (default stderr).

    Idempotent: a second call replaces the handler it installed.
    """
    use_json = fmt == "json" or (fmt == "auto" and not _is_tty(stream if stream is not None else sys.stderr))
    handler: logging.StreamHandler[IO[str]] = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(_Ids())
    handler.setFormatter(_JsonFormatter() if use_json else logging.Formatter(_TEXT))
    for name in ("harbourmaster", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
            logger.removeHandler(old)
        if name == "harbourmaster" or name == "uvicorn":
            logger.addHandler(handler)
        logger.setLevel(level.upper())
        # uvicorn's children propagate to "uvicorn"; ours stop at "harbourmaster".
        logger.propagate = name.startswith("uvicorn.")
    return handler


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        # Not setStream(): that flushes the previous stream, which may be closed by now.
        self.stream = sys.stderr
        super().emit(record)

    def flush(self) -> None:
        self.stream = sys.stderr
        super().flush()


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def bound_ids(*, request_id: str | None = None, job_id: str | None = None) -> Iterator[None]:
    """Set the request and/or job id for log lines written inside the block."""
    tokens = []
    if request_id is not None:
        tokens.append((REQUEST_ID, REQUEST_ID.set(request_id)))
    if job_id is not None:
        tokens.append((JOB_ID, JOB_ID.set(job_id)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
