"""Settings in one class, every variable documented; logs in one configuration with request ids."""

from __future__ import annotations

import io
import json
import logging
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from harbourmaster.api.app import create_app
from harbourmaster.errors import BadInput
from harbourmaster.logs import bound_ids, configure_logging
from harbourmaster.services.core import Harbourmaster
from harbourmaster.settings import DATABASE_FILE, Settings, settings_reference

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_derive_from_the_home(tmp_path: Path) -> None:
    settings = Settings.from_environ({"HARBOURMASTER_HOME": str(tmp_path)})
    assert settings.home == tmp_path
    assert settings.database_url == f"sqlite:///{tmp_path / DATABASE_FILE}"
    assert settings.audit_checkpoint_file == tmp_path / "audit-checkpoints.jsonl"
    assert settings.max_decision_images == 1000 and settings.log_format == "auto"


def test_every_variable_is_read_from_the_mapping_given(tmp_path: Path) -> None:
    env = {
        "HARBOURMASTER_HOME": str(tmp_path),
        "HARBOURMASTER_DATABASE_URL": "postgresql+psycopg://u@db/hm",
        "HARBOURMASTER_MAX_DECISION_IMAGES": "50",
        "HARBOURMASTER_LOG_LEVEL": "DEBUG",
        "HARBOURMASTER_VULN_WEBHOOK_URL": "https://hooks.example/x",
    }
    settings = Settings.from_environ(env)
    assert settings.database_url.startswith("postgresql")
    assert settings.max_decision_images == 50
    assert settings.log_level == "debug"
    assert settings.vuln_webhook_url == "https://hooks.example/x"


def test_the_process_environment_is_not_read_implicitly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARBOURMASTER_MAX_DECISION_IMAGES", "7")
    assert Settings.from_environ({"HARBOURMASTER_HOME": str(tmp_path)}).max_decision_images == 1000
    assert Settings.from_environ().max_decision_images == 7


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HARBOURMASTER_MAX_DECISION_IMAGES", "0"),
        ("HARBOURMASTER_MAX_DECISION_IMAGES", "many"),
        ("HARBOURMASTER_MAX_SBOM_BYTES", str(1 << 40)),
        ("HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL", "-1"),
        ("HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL", "inf"),
        ("HARBOURMASTER_LOG_FORMAT", "xml"),
    ],
)
def test_a_bad_value_is_bad_input_naming_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(BadInput) as refused:
        Settings.from_environ({"HARBOURMASTER_HOME": str(tmp_path), name: value})
    assert name in refused.value.message


def test_key_material_is_never_a_setting(tmp_path: Path) -> None:
    env = {"HARBOURMASTER_HOME": str(tmp_path), "HARBOURMASTER_MASTER_KEY": "c2VjcmV0LWtleS1tYXRlcmlhbA=="}
    settings = Settings.from_environ(env)
    assert "c2VjcmV0" not in repr(settings) and "c2VjcmV0" not in settings.model_dump_json()
    assert settings.environ["HARBOURMASTER_MASTER_KEY"]  # the vault reads it from here


def test_every_variable_the_code_reads_is_documented_in_the_readme() -> None:
    """Each HARBOURMASTER_* name in the source is a setting (or vault variable), and the README lists it."""
    names = {name for name, _, _ in settings_reference()}
    used: set[str] = set()
    for path in (ROOT / "src" / "harbourmaster").rglob("*.py"):
        used |= set(re.findall(r"HARBOURMASTER_[A-Z0-9_]+", path.read_text(encoding="utf-8")))
    used -= {"HARBOURMASTER_"}  # the prefix itself
    assert used <= names, f"read but not a setting: {sorted(used - names)}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [n for n in names if f"`{n}`" not in readme]
    assert not missing, f"settings missing from the README's configuration table: {missing}"


def test_json_logs_carry_the_request_id_and_never_a_secret() -> None:
    from harbourmaster.domain.secret import Secret

    stream = io.StringIO()
    configure_logging(level="info", fmt="json", stream=stream)
    log = logging.getLogger("harbourmaster.test")
    with bound_ids(request_id="req-123"):
        log.info("using %s", Secret("canary-log-Qx81"))
    log.info("outside")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["request_id"] == "req-123" and lines[0]["level"] == "info"
    assert "canary-log-Qx81" not in stream.getvalue()
    assert lines[1]["request_id"] == "-"
    configure_logging(level="info", fmt="text", stream=stream)  # idempotent: one handler
    assert sum(h.get_name() == "harbourmaster" for h in logging.getLogger("harbourmaster").handlers) == 1


def test_the_api_answers_with_a_request_id_and_logs_under_it(tmp_path: Path) -> None:
    hm = Harbourmaster.from_environ({"HARBOURMASTER_HOME": str(tmp_path)})
    hm.init()
    stream = io.StringIO()
    configure_logging(level="info", fmt="json", stream=stream)
    with TestClient(create_app(hm)) as client:
        given = client.get("/api/v1/registries", headers={"X-Request-ID": "trace-42"})
        made = client.get("/api/v1/registries")
        odd = client.get("/api/v1/registries", headers={"X-Request-ID": "x" * 500})
    assert given.headers["x-request-id"] == "trace-42"
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    assert odd.headers["x-request-id"] != "x" * 500
    hm.db.dispose()


def test_cli_commands_use_the_one_logging_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CLI command's log lines are JSON off a terminal, warnings and up unless the level asks for more."""
    from typer.testing import CliRunner

    from harbourmaster.cli.main import app

    monkeypatch.setenv("HARBOURMASTER_HOME", str(tmp_path))
    monkeypatch.setenv("HARBOURMASTER_LOG_FORMAT", "json")
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    handlers = [h for h in logging.getLogger("harbourmaster").handlers if h.get_name() == "harbourmaster"]
    assert len(handlers) == 1 and logging.getLogger("harbourmaster").level == logging.WARNING
    logging.getLogger("harbourmaster.test").warning("from a command")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["message"] == "from a command" and line["request_id"] == "-"
    monkeypatch.setenv("HARBOURMASTER_LOG_LEVEL", "debug")
    assert runner.invoke(app, ["registry", "list", "--json"]).exit_code == 0
    assert logging.getLogger("harbourmaster").level == logging.DEBUG
