"""A guard that refuses network and file-system writes while unit tests run on the fakes.

:func:`no_io` installs (once per process) an audit hook (PEP 578) that, while a
guard is active, refuses in every thread:

* network sockets: creating an ``AF_INET``/``AF_INET6`` socket, and any
  connect, bind, send-to or name look-up (the event loop's own ``AF_UNIX``
  wake-up pair is allowed: it reaches nothing outside the process);
* files: opening a path for writing or creating, ``mkdir``, ``rename``,
  ``link``/``symlink``, and any SQLite connection (even ``:memory:``: the
  fakes need no database).

Each refusal raises :class:`IoRefused` *and* is recorded, so an attempt that
the code under test catches and swallows (a webhook failure, a registry error)
still fails the test: the guard's owner asserts nothing was recorded.  Bytecode
is not written while a guard is active (an import must not write ``.pyc``).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["IoRefused", "Refusals", "active", "no_io"]

_NETWORK_FAMILIES = {socket.AF_INET, socket.AF_INET6}
_NETWORK_EVENTS = {
    "socket.connect",
    "socket.bind",
    "socket.sendto",
    "socket.sendmsg",
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyaddr",
    "socket.getnameinfo",
}
_FILE_EVENTS = {"os.mkdir", "os.rename", "os.link", "os.symlink", "os.truncate", "sqlite3.connect"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class IoRefused(PermissionError):
    """An operation a unit test on the fakes must not do."""


class Refusals:
    """What was refused while the guard was active."""

    def __init__(self) -> None:
        self._seen: list[str] = []
        self._lock = threading.Lock()

    def add(self, what: str) -> None:
        with self._lock:
            self._seen.append(what)

    def take(self) -> list[str]:
        """The refusals so far, forgotten (for a test that provokes them on purpose)."""
        with self._lock:
            seen, self._seen = self._seen, []
        return seen

    def __bool__(self) -> bool:
        return bool(self._seen)

    def __repr__(self) -> str:
        return f"Refusals({self._seen!r})"


_current: Refusals | None = None
_installed = False


def _writes(args: tuple[Any, ...]) -> bool:
    path, mode, flags = (*args, None, None, None)[:3]
    if isinstance(path, int) or path is None:
        return False  # an already open descriptor: nothing is created
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & _WRITE_FLAGS)


def _refusal(event: str, args: tuple[Any, ...]) -> str | None:
    if event == "socket.__new__":
        family = args[1] if len(args) > 1 else None
        return f"a network socket (family {family})" if family in _NETWORK_FAMILIES else None
    if event in _NETWORK_EVENTS:
        return f"{event}{args!r}"
    if event == "open":
        return f"opening {args[0]!r} for writing" if _writes(args) else None
    if event in _FILE_EVENTS:
        return f"{event}{args!r}"
    return None


def _hook(event: str, args: tuple[Any, ...]) -> None:
    refusals = _current
    if refusals is None:
        return
    what = _refusal(event, args)
    if what is not None:
        refusals.add(what)
        raise IoRefused(f"a unit test on the fakes may not do this: {what}")


def active() -> bool:
    """Whether a guard is active now."""
    return _current is not None


@contextmanager
def no_io() -> Iterator[Refusals]:
    """Refuse network and file-system writes (see the module documentation) until the block ends."""
    global _current, _installed
    if not _installed:
        sys.addaudithook(_hook)  # hooks cannot be removed: it does nothing while no guard is active
        _installed = True
    if _current is not None:
        raise RuntimeError("a no-I/O guard is already active")
    refusals = Refusals()
    bytecode = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    _current = refusals
    try:
        yield refusals
    finally:
        _current = None
        sys.dont_write_bytecode = bytecode
