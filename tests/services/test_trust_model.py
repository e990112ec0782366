"""The trust model around the core (issue 8): who may change which section through apply,
where secret references are resolved, and the binding of a stored secret to its origin."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from harbourmaster.cli._common import local_principal
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.errors import Forbidden
from harbourmaster.services.apply import SECTION_PERMISSIONS, apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import use_credential
from harbourmaster.services.document import DocumentInvalid
from harbourmaster.vault.interface import DecryptionError, SealedSecret

CANARY = "canary-Zq7uVt-secret"

PLATFORM = Principal("platform", Role.PLATFORM_ENGINEER)
ADMIN = Principal("admin", Role.ADMINISTRATOR)


VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "signing"


def _apply(hm: Harbourmaster, doc: dict[str, object], principal: Principal | None = None, **kw: object):  # type: ignore[no-untyped-def]
    return apply_document(
        hm,
        principal or local_principal(hm),
        yaml.safe_dump(doc),
        source="test.yaml",
        host=kw.pop("host", hm.host_files()),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def _audit_len(hm: Harbourmaster) -> int:
    with hm.store.read() as tx:
        return sum(1 for _ in tx.audit.entries())


@pytest.fixture
def applied(hm: Harbourmaster, example_text: str) -> dict[str, object]:
    doc = yaml.safe_load(example_text)
    _apply(hm, doc)
    return doc


# -- apply checks the caller's permission per section -------------------------------------------
def _changed(doc: dict[str, object], section: str) -> dict[str, object]:
    """``doc`` with one change in ``section``."""
    out = yaml.safe_load(yaml.safe_dump(doc))
    if section == "users":
        out["users"] = [
            {**u, "role": "administrator"} if u["name"] == "platform" else u for u in out["users"]
        ]
    elif section == "teams":
        out["teams"][0]["members"] = [*out["teams"][0]["members"], "auditor"]
    elif section == "access":
        entry = {"environment": "prod-eu", "user": "platform", "role": "team-member"}
        out["access"] = [*out["access"], entry]
    elif section == "registries":
        out["registries"] = [
            *out["registries"],
            {"name": "extra", "provider": "custom", "url": "https://extra.corp"},
        ]
    elif section == "environments":
        out["environments"][0]["group"] = "changed-group"
    elif section == "grants":
        grant = {"registry": "dev-local", "environment": "dev-docker", "users": ["tools-dev"]}
        out["grants"] = [*out["grants"], grant]
    elif section == "tiers":
        out["tiers"] = {"development": {"ignore_unfixed": True}}
    elif section == "settings":
        out["settings"] = {"hide_dockerhub_anonymous": True}
    elif section == "allowlist":
        out["allowlist"] = [{"id": "CVE-2024-0001", "expires": "2031-01-01", "reason": "accepted"}]
    elif section == "content":
        out["content"] = {"ignore_kinds": [{"apiVersion": "example.com/v1", "kind": "Widget"}]}
    elif section == "signing":
        public = (VECTORS / "cosign" / "keys" / "derived" / "sigstore-rs.ecdsa-p256.pub").read_text()
        out["signing"] = {"keys": [{"name": "ci-release", "public_key": public}]}
    elif section == "mirrors":
        image_set = "apiVersion: harbourmaster.io/v1\nkind: ImageSet\nimages: [127.0.0.1:5000/team/app:v1]\n"
        out["mirrors"] = [
            {"name": "nightly", "to": "dev-local", "schedule": "0 2 * * *", "image_set": image_set}
        ]
    else:  # pragma: no cover - the table below names every section
        raise AssertionError(section)
    return out


@pytest.mark.parametrize("section", sorted(SECTION_PERMISSIONS))
@pytest.mark.parametrize("role", [Role.ADMINISTRATOR, Role.PLATFORM_ENGINEER])
def test_apply_checks_the_role_for_each_section(
    hm: Harbourmaster, applied: dict[str, object], section: str, role: Role
) -> None:
    caller = Principal("caller", role)
    before, records = hm.state(), _audit_len(hm)
    doc = _changed(applied, section)
    if section in {"users", "teams", "access"} and role is Role.PLATFORM_ENGINEER:
        with pytest.raises(Forbidden) as refused:
            _apply(hm, doc, caller)
        assert section in refused.value.message and "nothing was written" in refused.value.message
        assert hm.state() == before and _audit_len(hm) == records
    else:
        result = _apply(hm, doc, caller)
        assert result.applied and result.changes


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.TEAM_MEMBER])
def test_read_only_roles_may_not_apply_at_all(
    hm: Harbourmaster, applied: dict[str, object], role: Role
) -> None:
    with pytest.raises(Forbidden):
        _apply(hm, _changed(applied, "environments"), Principal("reader", role))


def test_platform_engineer_cannot_promote_themselves_and_every_section_is_named(
    hm: Harbourmaster, applied: dict[str, object]
) -> None:
    doc = _changed(_changed(applied, "users"), "access")
    doc = _changed(doc, "environments")
    with pytest.raises(Forbidden) as refused:
        _apply(hm, doc, PLATFORM)
    assert "users" in refused.value.message and "access" in refused.value.message
    assert "environments" not in refused.value.message
    assert any("administrator" in d for d in refused.value.details)
    assert {u.name: u.role for u in hm.state().users}["platform"] is Role.PLATFORM_ENGINEER
    # Dry runs are refused too: the diff of a section one may not change is not computed.
    with pytest.raises(Forbidden):
        _apply(hm, doc, PLATFORM, dry_run=True)


def test_prune_that_would_remove_users_is_refused_for_a_platform_engineer(
    hm: Harbourmaster, applied: dict[str, object]
) -> None:
    doc = {k: v for k, v in applied.items() if k not in {"users", "teams", "access"}}
    with pytest.raises(Forbidden) as refused:
        _apply(hm, doc, PLATFORM, prune=True)
    assert "users" in refused.value.message
    assert {u.name for u in hm.state().users} >= {"admin", "platform"}


def test_platform_engineer_may_apply_an_unchanged_identity_section(
    hm: Harbourmaster, applied: dict[str, object]
) -> None:
    result = _apply(hm, _changed(applied, "grants"), PLATFORM)
    assert result.applied and all("user" not in c.split()[1] for c in result.changes)


# -- references: only the CLI resolves them, never into harbourmaster's own data -----------------
def test_without_host_files_every_reference_and_pem_path_is_refused_with_its_path(
    hm: Harbourmaster, applied: dict[str, object]
) -> None:
    doc = yaml.safe_load(yaml.safe_dump(applied))
    doc["registries"][0]["credential"]["secret"] = f"file:{hm.settings.home / 'master.key'}"
    doc["registries"][1]["credential"]["secret"] = "env:HOME"
    doc["registries"].append(
        {
            "name": "pem-path",
            "provider": "custom",
            "url": "https://pem.corp",
            "tls": {"ca_bundle": "/etc/ssl/certs/ca-certificates.crt"},
        }
    )
    with pytest.raises(DocumentInvalid) as invalid:
        _apply(hm, doc, ADMIN, host=None)
    details = "\n".join(invalid.value.details)
    assert "registries[0].credential.secret: secret references (env:, file:) are resolved only by" in details
    assert "registries[1].credential.secret" in details
    assert f"registries[{len(doc['registries']) - 1}].tls.ca_bundle: give the PEM text itself" in details
    assert hm.state().registry("pem-path") is None


def _with_secret(doc: dict[str, object], reference: str) -> dict[str, object]:
    out = yaml.safe_load(yaml.safe_dump(doc))
    out["registries"][0]["credential"]["secret"] = reference
    return out


@pytest.mark.parametrize("target", ["master.key", "harbourmaster.db", "harbourmaster.db-wal"])
def test_file_references_into_the_data_directory_are_refused(
    hm: Harbourmaster, applied: dict[str, object], target: str
) -> None:
    path = hm.settings.home / target
    if not path.exists():
        path.write_text("x")
    with pytest.raises(DocumentInvalid) as invalid:
        _apply(hm, _with_secret(applied, f"file:{path}"))
    assert "harbourmaster's own data" in "\n".join(invalid.value.details)


def test_symlinks_and_hard_links_into_the_vault_are_refused(
    hm: Harbourmaster, applied: dict[str, object], tmp_path: Path
) -> None:
    key = hm.settings.home / "master.key"
    link = tmp_path / "innocent-looking"
    link.symlink_to(key)
    nested = tmp_path / "dir-link"
    nested.symlink_to(hm.settings.home)
    hard = tmp_path / "hard"
    os.link(key, hard)
    for reference in (f"file:{link}", f"file:{nested}/master.key", f"file:{hard}"):
        with pytest.raises(DocumentInvalid) as invalid:
            _apply(hm, _with_secret(applied, reference))
        assert "harbourmaster's own data" in "\n".join(invalid.value.details), reference


def test_a_database_outside_the_home_is_protected_too(
    example_env: dict[str, str], tmp_path: Path, example_text: str
) -> None:
    database = tmp_path / "elsewhere" / "hm.db"
    database.parent.mkdir()
    core = Harbourmaster.from_environ(
        {
            **os.environ,
            "HARBOURMASTER_HOME": str(tmp_path / "home"),
            "HARBOURMASTER_DATABASE_URL": f"sqlite:///{database}",
        }
    )
    core.init()
    doc = _with_secret(yaml.safe_load(example_text), f"file:{database}")
    with pytest.raises(DocumentInvalid) as invalid:
        _apply(core, doc)
    assert "harbourmaster's own data" in "\n".join(invalid.value.details)


def test_harbourmaster_variables_are_refused(
    hm: Harbourmaster, applied: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARBOURMASTER_MASTER_KEY", "not-for-registries")
    with pytest.raises(DocumentInvalid) as invalid:
        _apply(hm, _with_secret(applied, "env:HARBOURMASTER_MASTER_KEY"))
    assert "one of harbourmaster's own settings" in "\n".join(invalid.value.details)


def test_an_ordinary_file_reference_still_works(
    hm: Harbourmaster, applied: dict[str, object], tmp_path: Path
) -> None:
    secret = tmp_path / "robot"
    secret.write_text(CANARY + "\n")
    _apply(hm, _with_secret(applied, f"file:{secret}"))
    name = applied["registries"][0]["name"]  # type: ignore[index]
    use = use_credential(hm, registry=name, actor="t", purpose="test")
    assert use is not None and use.secret.reveal() == CANARY


# -- a stored secret is bound to its origin -----------------------------------------------------------
def _first(applied: dict[str, object]) -> dict[str, object]:
    return applied["registries"][0]  # type: ignore[index, no-any-return]


@pytest.mark.parametrize(
    "change",
    [
        {"url": "https://attacker.example"},
        {"url": "https://harbor.corp:8443"},
        {"scope": "payments-evil"},
        {"tls": {"insecure": True}},
        {"tls": {"ca_bundle": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}},
    ],
    ids=["host", "port", "scope", "insecure", "ca-bundle"],
)
def test_moving_a_registry_without_its_secret_is_refused_by_apply(
    hm: Harbourmaster, applied: dict[str, object], change: dict[str, object]
) -> None:
    doc = yaml.safe_load(yaml.safe_dump(applied))
    reg = doc["registries"][0]
    reg.update(change)
    reg["credential"].pop("secret", None)
    with pytest.raises(DocumentInvalid) as invalid:
        _apply(hm, doc)
    assert any(
        d.startswith("registries[0].credential.secret: required: the registry's origin")
        for d in invalid.value.details
    ), invalid.value.details


def test_a_moved_registry_with_a_new_secret_is_sealed_for_the_new_origin(
    hm: Harbourmaster, applied: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    name = _first(applied)["name"]
    old = hm.state().registry(name)
    assert old is not None
    doc = yaml.safe_load(yaml.safe_dump(applied))
    monkeypatch.setenv("HM_NEW_SECRET", CANARY)
    doc["registries"][0]["url"] = "https://harbor2.corp"
    doc["registries"][0]["credential"]["secret"] = "env:HM_NEW_SECRET"
    _apply(hm, doc)
    use = use_credential(hm, registry=name, actor="t", purpose="test")
    assert use is not None and use.secret.reveal() == CANARY
    # The registry as it was (the old origin) cannot open the new secret.
    with pytest.raises(DecryptionError):
        use_credential(hm, registry=old, actor="t", purpose="test")


def test_the_ciphertext_binds_the_origin(hm: Harbourmaster, applied: dict[str, object]) -> None:
    """Even a bug that skipped the drop could not open a secret for another origin."""
    name = _first(applied)["name"]
    reg = hm.state().registry(name)
    assert reg is not None
    with hm.store.read() as tx:
        blob = tx.governance.sealed_blobs(name).credential
    assert blob is not None
    sealed = SealedSecret.from_bytes(blob)
    assert hm.vault.open(sealed, record=name, field="credential", origin=reg.credential_origin).reveal()
    moved = reg.credential_origin.replace(reg.location.host, "attacker.example")
    with pytest.raises(DecryptionError):
        hm.vault.open(sealed, record=name, field="credential", origin=moved)
    with pytest.raises(DecryptionError):
        hm.vault.open(sealed, record=name, field="credential")


def test_unrelated_changes_keep_the_secret(hm: Harbourmaster, applied: dict[str, object]) -> None:
    doc = yaml.safe_load(yaml.safe_dump(applied))
    doc["registries"][0]["oci_artifacts"] = not doc["registries"][0].get("oci_artifacts", False)
    doc["registries"][0]["credential"].pop("secret", None)
    result = _apply(hm, doc)
    assert result.applied
    assert not any("dropped" in c for c in result.changes)
    assert use_credential(hm, registry=_first(applied)["name"], actor="t", purpose="test") is not None  # type: ignore[arg-type]


def test_init_binds_secrets_stored_before_origin_binding(
    hm: Harbourmaster, applied: dict[str, object]
) -> None:
    """A data directory from before origin binding keeps working: init re-seals its secrets bound."""
    from harbourmaster.domain.secret import Secret
    from harbourmaster.store.values import SealedUpdates

    name = str(_first(applied)["name"])
    legacy = hm.vault.seal(Secret(CANARY), record=name, field="credential").to_bytes()  # unbound
    with hm.store.transaction() as tx:
        tx.governance.save(tx.governance.load(), sealed=SealedUpdates(credentials={name: legacy}))
    with pytest.raises(DecryptionError):
        use_credential(hm, registry=name, actor="t", purpose="before init")
    hm.init()
    use = use_credential(hm, registry=name, actor="t", purpose="after init")
    assert use is not None and use.secret.reveal() == CANARY
    with hm.store.read() as tx:
        actions = [e.action for e in tx.audit.entries()]
    assert "vault.bind_origins" in actions
    hm.init()  # idempotent: nothing left to bind
    with hm.store.read() as tx:
        assert [e.action for e in tx.audit.entries()].count("vault.bind_origins") == 1
