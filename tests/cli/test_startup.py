"""The CLI starts fast: importing it, --help and a check import only what they use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HEAVY = ("fastapi", "uvicorn", "sqlalchemy", "alembic", "httpx", "cyclonedx", "cryptography")


def loaded_modules(code: str) -> set[str]:
    script = f"import sys\n{code}\nsys.stdout.write('\\n'.join(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, env=dict(os.environ)
    )
    assert "Traceback" not in done.stderr, done.stderr
    return set(done.stdout.split())


def heavy_among(modules: set[str], heavy: tuple[str, ...] = HEAVY) -> set[str]:
    return {m for m in modules if m.split(".")[0] in heavy}


def test_importing_the_cli_imports_no_heavy_module() -> None:
    assert heavy_among(loaded_modules("import harbourmaster.cli.main")) == set()


def test_help_imports_no_command_and_no_heavy_module() -> None:
    code = (
        "from harbourmaster.cli.main import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
    )
    modules = loaded_modules(code)
    assert heavy_among(modules) == set()
    assert not {m for m in modules if m.startswith("harbourmaster.services")}


@pytest.mark.parametrize(
    ("mode", "code"),
    [
        # The source alone allows the image.
        ("--source-only", 0),
        # The full verdict denies it: unpinned, it can be neither scanned nor verified, and production
        # requires both; still no registry is asked and no scanner is loaded.
        ("--no-source-only", 1),
    ],
)
def test_check_without_pinning_imports_neither_the_registry_client_nor_the_api(
    cli: Any, applied: Path, mode: str, code: int
) -> None:
    extra = ", '--source-only'" if mode == "--source-only" else ""
    script = (
        "from harbourmaster.cli.main import app\n"
        "try:\n    app(['check', '--env', 'prod-eu', '-n', 'payments', 'harbor.corp/payments/api:1',"
        f" '--no-resolve'{extra}])\nexcept SystemExit as exit:\n    assert exit.code == {code}, exit.code\n"
    )
    modules = loaded_modules(script)
    assert heavy_among(modules, ("fastapi", "uvicorn", "alembic", "httpx", "cyclonedx")) == set()
    assert "harbourmaster.registry" not in modules and "harbourmaster.supply" not in modules
