"""Checkpoints over the API, and the periodic writer that runs with the app."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from harbourmaster.api.app import create_app
from harbourmaster.domain.audit_checkpoint import checkpoint_from_json_line, parse_export_line
from harbourmaster.errors import BadInput
from harbourmaster.services.audit_checkpoints import CheckpointWriter
from harbourmaster.services.core import Harbourmaster
from harbourmaster.settings import Settings
from harbourmaster.vault.signing import CheckpointPublicKey
from tests.api.conftest import Api
from tests.api.test_authz import assert_problem
from tests.integration.postgres import core_on

P = "/api/v1"


def test_checkpoints_through_the_api(api: Api) -> None:
    auditor = api.headers("auditor")
    made = api.client.post(f"{P}/audit/checkpoints", headers=auditor)
    assert made.status_code == 201, made.text
    body = made.json()
    checkpoint = checkpoint_from_json_line(json.dumps(body))
    assert body["type"] == "audit.checkpoint"
    server_file = api.hm.settings.audit_checkpoint_file
    assert checkpoint_from_json_line(server_file.read_text().splitlines()[-1]) == checkpoint
    key = api.client.get(f"{P}/audit/public-key", headers=auditor).json()
    public = CheckpointPublicKey.from_pem(key["pem"], source="response")
    assert key["key_id"] == public.key_id == checkpoint.key_id and key["algorithm"] == "ed25519"
    assert public.verify(checkpoint.payload(), checkpoint.signature)
    verdict = api.client.get(f"{P}/audit/verify", headers=auditor).json()
    assert verdict["ok"] is True and verdict["checkpoints"] == verdict["checkpoints_checked"] == 1
    assert verdict["checkpoint_problem"] is None and verdict["checkpoint_sources"] == [str(server_file)]
    lines = api.client.get(f"{P}/audit/export", headers=auditor).text.splitlines()
    *records, last = [parse_export_line(line) for line in lines]
    assert last == checkpoint_from_json_line(server_file.read_text().splitlines()[-1])
    assert last.seq == records[-1].seq and last.head == records[-1].hash  # type: ignore[union-attr]
    plain = api.client.get(f"{P}/audit/export", params={"checkpoint": "false"}, headers=auditor).text
    assert '"audit.checkpoint"' not in plain


def test_the_api_reports_a_rewrite_and_refuses_to_sign_it(api: Api) -> None:
    admin = api.headers("admin")
    assert api.client.post(f"{P}/audit/checkpoints", headers=admin).status_code == 201
    with api.hm.db.engine.begin() as conn:  # (a) everything deleted, the head with it
        conn.execute(text("DELETE FROM audit_log"))
        conn.execute(text("DELETE FROM meta WHERE key = 'audit_head'"))
    verdict = api.client.get(f"{P}/audit/verify", headers=admin).json()
    assert verdict["problem"] is None and verdict["ok"] is False and verdict["checkpoints_checked"] == 0
    assert "is not in the chain" in verdict["checkpoint_problem"]
    refused = assert_problem(api.client.post(f"{P}/audit/checkpoints", headers=admin), 409)
    assert refused["type"].endswith("/audit-checkpoint-refused")
    # Every request records its token's use, so a new log has grown since: behind the checkpoint.
    assert "behind the last checkpoint" in refused["detail"] and "records were cut off" in refused["detail"]
    assert_problem(api.client.get(f"{P}/audit/export", headers=admin), 409)


def _core(database_url: str, tmp_path: Path, interval: str) -> Harbourmaster:
    env = dict(os.environ, HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL=interval,
               HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG="")
    return core_on(database_url, tmp_path / "home", environ=env)


def _wait(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + 15
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_the_app_runs_the_checkpoint_writer_while_it_serves(database_url: str, tmp_path: Path) -> None:
    hm = _core(database_url, tmp_path, "0.05")
    path = hm.settings.audit_checkpoint_file
    try:
        app = create_app(hm)
        with TestClient(app):
            writer = app.state.checkpoint_writer
            assert isinstance(writer, CheckpointWriter) and writer.interval == 0.05 and writer.running
            assert _wait(path.exists)
            with hm.store.transaction() as tx:
                tx.audit.append(actor="t", action="test.event", target="t")
            assert _wait(lambda: len(path.read_text().splitlines()) == 2)
        assert not writer.running  # stopped with the app
        seqs = [json.loads(line)["seq"] for line in path.read_text().splitlines()]
        assert seqs == [1, 2]  # one per head: none while the head stood still
    finally:
        hm.db.dispose()


def test_an_interval_of_0_turns_the_writer_off(tmp_path: Path) -> None:
    hm = _core(f"sqlite:///{tmp_path / 'hm.db'}", tmp_path, "0")
    app = create_app(hm)
    with TestClient(app):
        assert app.state.checkpoint_writer is None
        time.sleep(0.1)
    assert not hm.settings.audit_checkpoint_file.exists()
    hm.db.dispose()


@pytest.mark.parametrize("value", ["soon", "-5"])
def test_a_bad_interval_is_bad_input(value: str, tmp_path: Path) -> None:
    env = {"HARBOURMASTER_HOME": str(tmp_path), "HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL": value}
    with pytest.raises(BadInput, match="HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL"):
        Settings.from_environ(env)
