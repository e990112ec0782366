"""The fakes' own tests run on the fakes alone: no socket, no file (see :mod:`tests.fakes.fixtures`)."""

from __future__ import annotations

from tests.fakes.fixtures import _isolated_home, refusals  # noqa: F401 - the no-I/O guard, autouse
