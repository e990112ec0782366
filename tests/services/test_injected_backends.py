"""The services use the backends the core is built with (issue 9, "injected backends"): no module of
``harbourmaster.services`` reads the environment, reads the wall clock, talks HTTP itself or makes a
backend; the composition root makes the real ones, and ``Harbourmaster.from_environ`` goes through it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import harbourmaster.services
from harbourmaster.bootstrap import build, notifier_for
from harbourmaster.clock import SystemClock
from harbourmaster.notify import DisabledNotifier, NotifyError, WebhookNotifier
from harbourmaster.services.core import Harbourmaster
from harbourmaster.settings import Settings
from harbourmaster.store.sql import SqlStore
from harbourmaster.vault.local import KeyFileVault
from tests.fakes.clock import FixedClock

SERVICES = Path(harbourmaster.services.__file__).resolve().parent

#: Backends only the composition root (harbourmaster.bootstrap) makes.
BACKENDS = {
    "RegistryClient", "HttpxClientFactory", "SqlStore", "Database", "KeyFileVault", "WebhookNotifier",
    "DisabledNotifier", "SystemClock", "Harbourmaster",
}
#: ``module.attribute`` calls that read the wall clock or the environment.
CLOCK_AND_ENVIRONMENT = {
    ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today"), ("time", "time"),
    ("os", "getenv"), ("os", "getenvb"),
}
#: Modules whose import would let a service talk to the network or the environment on its own.
FORBIDDEN_IMPORTS = {"httpx", "requests", "urllib.request", "socket", "harbourmaster.bootstrap"}
#: What is allowed, and why: a socket to the local syslog daemon (checkpoint copies), and the core's
#: ``from_environ``, which hands over to the composition root.
ALLOWED = {
    ("checkpoint_files.py", "import socket"),
    ("core.py", "import harbourmaster.bootstrap"),
}


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[str] = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call):
            called = _name(node.func)
            if called in BACKENDS:
                out.append(f"{where} makes a {called}")
            func = node.func
            if isinstance(func, ast.Attribute) and (_name(func.value), func.attr) in CLOCK_AND_ENVIRONMENT:
                out.append(f"{where} calls {_name(func.value)}.{func.attr}()")
        elif isinstance(node, ast.Attribute) and (_name(node.value), node.attr[:7]) == ("os", "environ"):
            out.append(f"{where} reads os.{node.attr}")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            out += [
                f"{where} imports {module}"
                for module in modules
                if any(module == m or module.startswith(m + ".") for m in FORBIDDEN_IMPORTS)
                and (path.name, f"import {module}") not in ALLOWED
            ]
            if isinstance(node, ast.ImportFrom) and node.module == "os":
                out += [f"{where} imports os.{a.name}" for a in node.names if a.name in ("environ", "getenv")]
    return out


def test_services_use_only_the_backends_they_are_given() -> None:
    modules = sorted(SERVICES.glob("*.py"))
    assert len(modules) > 20
    assert [p for m in modules for p in _problems(m)] == []


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("import os\nurl = os.environ.get('X')\n", "reads os.environ"),
        ("import os\nos.getenv('X')\n", "calls os.getenv()"),
        ("import datetime as dt\ndt.datetime.now(dt.UTC)\n", "calls datetime.now()"),
        ("import datetime as dt\ndt.date.today()\n", "calls date.today()"),
        ("from harbourmaster.registry import RegistryClient\nRegistryClient(e)\n", "makes a RegistryClient"),
        ("import httpx\n", "imports httpx"),
    ],
)
def test_the_check_finds_what_it_forbids(tmp_path: Path, code: str, problem: str) -> None:
    module = tmp_path / "service.py"
    module.write_text(code)
    assert [p.split(" ", 1)[1] for p in _problems(module)] == [problem]


def test_the_composition_root_makes_the_real_backends(tmp_path: Path) -> None:
    settings = Settings.from_environ({"HARBOURMASTER_HOME": str(tmp_path)})
    hm = build(settings)
    assert isinstance(hm.store, SqlStore) and hm.db.database_file == tmp_path / "harbourmaster.db"
    assert isinstance(hm.vault, KeyFileVault) and isinstance(hm.clock, SystemClock)
    assert isinstance(hm.notifier, DisabledNotifier)
    assert hm.store.clock is hm.clock  # audit records and services tell the same time
    assert "loaded at first use" in repr(hm.registry_clients)
    assert not tmp_path.joinpath("harbourmaster.db").exists()  # nothing is opened until it is used
    clock = FixedClock()
    assert build(settings, clock=clock).clock is clock


def test_from_environ_goes_through_the_composition_root(tmp_path: Path) -> None:
    webhook = "https://hooks.example/x?t=s3cr3t"
    hm = Harbourmaster.from_environ(
        {"HARBOURMASTER_HOME": str(tmp_path), "HARBOURMASTER_VULN_WEBHOOK_URL": webhook}
    )
    assert isinstance(hm.store, SqlStore) and isinstance(hm.notifier, WebhookNotifier)
    assert "s3cr3t" not in repr(hm.notifier) and "hooks.example" in repr(hm.notifier)


def test_a_webhook_url_that_is_not_http_is_bad_input_naming_the_variable() -> None:
    settings = Settings.from_environ({"HARBOURMASTER_HOME": "/x", "HARBOURMASTER_VULN_WEBHOOK_URL": "h/x"})
    with pytest.raises(NotifyError, match="VULN_WEBHOOK_URL: the webhook URL must be an absolute http"):
        notifier_for(settings)
