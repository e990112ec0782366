from __future__ import annotations

import os

import pytest

# Session fixtures: a private PostgreSQL cluster with per-test databases, and
# the CNCF distribution registry in its set-ups (anonymous, basic, TLS, token, mTLS).
pytest_plugins = ["tests.integration.postgres", "tests.integration.registry_fixtures"]

# Tests never touch the developer's real data directory.
@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path_factory.mktemp("hm-home")
    monkeypatch.setenv("HARBOURMASTER_HOME", str(home))
    monkeypatch.delenv("HARBOURMASTER_DATABASE_URL", raising=False)
    monkeypatch.delenv("HARBOURMASTER_MASTER_KEY", raising=False)
    os.environ.setdefault("HYPOTHESIS_PROFILE", "default")
