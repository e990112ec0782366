"""Issue 8: ``keys rotate`` erases the old master key unless ``--keep-retired``."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from sqlalchemy import select

from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import use_credential
from harbourmaster.store.models import AuditRow
from tests.services.conftest import EXAMPLE_SECRETS

#: Registries of examples/governance.yaml with a stored credential, and the variable holding it.
SECRETS = {
    "harbor-web": "HM_EXAMPLE_HARBOR_WEB_SECRET",
    "harbor-payments": "HM_EXAMPLE_HARBOR_PAYMENTS_SECRET",
}


def home() -> Path:
    return Path(os.environ["HARBOURMASTER_HOME"])


def _key_files() -> list[str]:
    return sorted(p.name for p in home().iterdir() if p.name.startswith("master.key"))


def _every_secret_opens(hm: Harbourmaster) -> None:
    for registry, variable in SECRETS.items():
        use = use_credential(hm, registry=registry, actor="t", purpose="test")
        assert use is not None and use.secret.reveal() == EXAMPLE_SECRETS[variable]


def test_rotate_erases_the_old_key(cli, applied) -> None:  # type: ignore[no-untyped-def]
    old_key = (home() / "master.key").read_bytes()
    result = cli("keys", "rotate", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["retired_key_file"] is None
    assert _key_files() == ["master.key"]
    assert all(old_key.strip() not in p.read_bytes() for p in home().iterdir() if p.is_file())
    _every_secret_opens(Harbourmaster.from_environ())
    # Twice: each rotation leaves one key.
    assert cli("keys", "rotate").exit_code == 0
    assert _key_files() == ["master.key"]
    _every_secret_opens(Harbourmaster.from_environ())
    with Harbourmaster.from_environ().db.read() as session:
        rotations = session.scalars(select(AuditRow).where(AuditRow.action == "keys.rotate"))
        kept = [r.details["retired_key_kept"] for r in rotations]
    assert kept == [False, False]


def test_rotate_keep_retired_keeps_it_private(cli, applied) -> None:  # type: ignore[no-untyped-def]
    old_key = (home() / "master.key").read_bytes()
    result = cli("keys", "rotate", "--keep-retired", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    retired = Path(report["retired_key_file"])
    assert retired.name == f"master.key.{report['old_key_id']}.retired"
    assert _key_files() == sorted(["master.key", retired.name])
    assert retired.read_bytes() == old_key and stat.S_IMODE(retired.stat().st_mode) == 0o600
    _every_secret_opens(Harbourmaster.from_environ())
    table = cli("keys", "rotate")
    assert table.exit_code == 0 and "the old key was erased" in table.stdout
    assert retired.exists()  # an explicitly kept key is not erased by a later rotation


def test_a_running_core_follows_a_rotation_made_by_another_process(cli, applied) -> None:  # type: ignore[no-untyped-def]
    """A server that read the old key must neither fail to open nor seal under an erased key."""
    server = Harbourmaster.from_environ()
    _every_secret_opens(server)
    old_id = server.vault.keyring.primary.key_id
    assert cli("keys", "rotate").exit_code == 0
    _every_secret_opens(server)
    assert server.vault.keyring.primary.key_id != old_id
