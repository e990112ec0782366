from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from harbourmaster.cli.main import app
from tests.services.conftest import EXAMPLE, EXAMPLE_SECRETS


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    for k, v in EXAMPLE_SECRETS.items():
        monkeypatch.setenv(k, v)
    runner = CliRunner()

    def run(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    return run


@pytest.fixture
def applied(cli) -> Path:  # type: ignore[no-untyped-def]
    assert cli("init").exit_code == 0
    result = cli("apply", "-f", str(EXAMPLE))
    assert result.exit_code == 0, result.output
    return EXAMPLE
