"""The unit tests of the services open no socket and create no file: the guard is on for each of them, it
refuses (and records) what they must not do, no unit test asks for a temporary directory or builds the real
backends, and a unit core is made of fakes only."""

from __future__ import annotations

import ast
import os
import socket
import sqlite3
from pathlib import Path

import httpx
import pytest

from harbourmaster.bootstrap import build
from harbourmaster.registry.factory import HttpxClientFactory
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.interface import StoreError
from harbourmaster.vault.envelope import EnvelopeVault
from tests.fakes import isolation
from tests.fakes.clock import FixedClock
from tests.fakes.core import NO_HOME, unit_settings
from tests.fakes.isolation import Refusals
from tests.fakes.notifier import RecordingNotifier
from tests.fakes.store import MemoryStore

HERE = Path(__file__).resolve().parent
#: Fixtures that make directories, and modules that reach the network, the disk or a database.
FORBIDDEN_FIXTURES = {
    "tmp_path", "tmp_path_factory", "tmpdir", "tmpdir_factory", "hm", "api", "database_url", "example_env"
}
FORBIDDEN_IMPORTS = {
    "socket", "sqlite3", "tempfile", "shutil", "harbourmaster.bootstrap", "tests.integration"
}


def test_the_guard_is_on_for_every_unit_test() -> None:
    assert isolation.active()
    assert not NO_HOME.exists()


def test_sockets_and_file_writes_are_refused_and_recorded(refusals: Refusals) -> None:
    attempts = {
        "network socket": lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM),
        "name look-up": lambda: socket.getaddrinfo("registry.example", 443),
        "HTTP over the network": lambda: httpx.get("http://127.0.0.1:9/", timeout=1),
        "a file written": lambda: open(NO_HOME.parent / "written", "w"),  # noqa: SIM115
        "a directory made": lambda: os.mkdir(NO_HOME),
        "a database opened": lambda: sqlite3.connect(":memory:"),
    }
    for what, attempt in attempts.items():
        with pytest.raises((OSError, httpx.HTTPError)):
            attempt()
        assert refusals.take(), f"{what} was not refused"
    assert not NO_HOME.exists()


def test_a_real_store_would_be_refused(refusals: Refusals) -> None:
    real = build(unit_settings(), clock=FixedClock())
    with pytest.raises((StoreError, OSError)):
        real.state()
    assert any("sqlite3.connect" in r for r in refusals.take())


def _forbidden(module: str | None) -> bool:
    return module is not None and any(module == m or module.startswith(m + ".") for m in FORBIDDEN_IMPORTS)


def _unit_modules() -> list[Path]:
    return sorted(p for p in HERE.glob("*.py") if p.name != "test_isolation.py")


def test_no_unit_test_asks_for_a_directory_a_database_or_the_real_backends() -> None:
    found: list[str] = []
    for path in _unit_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                asked = {a.arg for a in node.args.args + node.args.kwonlyargs} & FORBIDDEN_FIXTURES
                found += [f"{path.name}:{node.lineno} {node.name} asks for {a}" for a in sorted(asked)]
            elif isinstance(node, ast.Import):
                found += [
                    f"{path.name}:{node.lineno} imports {a.name}" for a in node.names if _forbidden(a.name)
                ]
            elif isinstance(node, ast.ImportFrom) and _forbidden(node.module):
                found.append(f"{path.name}:{node.lineno} imports from {node.module}")
    assert len(_unit_modules()) >= 6
    assert found == []


def test_a_unit_core_is_made_of_fakes(core: Harbourmaster) -> None:
    assert isinstance(core.store, MemoryStore)
    with pytest.raises(StoreError, match="not a SQL database"):
        core.db  # noqa: B018 - the property raises
    assert isinstance(core.vault, EnvelopeVault) and core.vault.keyring.source == "memory"
    assert isinstance(core.registry_clients, HttpxClientFactory)
    assert "MockTransport" in repr(core.registry_clients)
    assert isinstance(core.clock, FixedClock) and isinstance(core.notifier, RecordingNotifier)
    assert core.settings.environ == {} and core.host_files().files == ()
