"""The fixtures of tests that run on the fakes alone (imported by their ``conftest.py``).

``_isolated_home`` replaces the suite-wide fixture of that name, which makes a
data directory for every test: a core on fakes has none, and nothing may create
one.  ``refusals`` puts the whole test, its fixtures included, inside
:func:`tests.fakes.isolation.no_io` and fails it if anything was refused, even
an attempt the code under test swallowed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harbourmaster.services.registry_digests import clear_registry_caches
from tests.fakes.core import NO_HOME
from tests.fakes.isolation import Refusals, no_io

__all__ = ["_isolated_home", "refusals"]


@pytest.fixture(autouse=True)
def _isolated_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARBOURMASTER_HOME", str(NO_HOME))
    for name in ("HARBOURMASTER_DATABASE_URL", "HARBOURMASTER_MASTER_KEY", "HARBOURMASTER_VULN_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def refusals(_isolated_home: None) -> Iterator[Refusals]:
    clear_registry_caches()  # process-wide digest caches: one test's answers are not another's
    with no_io() as refused:
        yield refused
    assert not refused, f"a test on the fakes did I/O: {refused}"
