from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harbourmaster.services.core import Harbourmaster
from tests.integration.postgres import core_on


@pytest.fixture
def hm(database_url: str, tmp_path: Path) -> Iterator[Harbourmaster]:
    """An initialised core on each database (SQLite, then PostgreSQL)."""
    core = core_on(database_url, tmp_path / "home")
    yield core
    core.db.dispose()
