"""The ``signing`` section and vault signing keys on the fakes: validation in one pass, the model
round trip, write-only keys and who may do what."""

from __future__ import annotations

from pathlib import Path

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role, Tier
from harbourmaster.domain.signers import SignersRequired
from harbourmaster.errors import BadInput, Conflict, Forbidden, NotFound
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.export import export_yaml
from harbourmaster.services.signing_keys import (
    generate_signing_key,
    list_signing_keys,
    open_signing_key,
    signing_key,
)
from harbourmaster.signing.keys import KeyAlgorithm, fingerprint, private_key_der

ADMIN = Principal("admin", Role.ADMINISTRATOR)
ENGINEER = Principal("platform", Role.PLATFORM_ENGINEER)
AUDITOR = Principal("auditor", Role.AUDITOR)
VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "signing"
PUBLIC_KEY = (VECTORS / "cosign" / "keys" / "derived" / "sigstore-rs.ecdsa-p256.pub").read_text()
ROOT = (VECTORS / "bundles" / "trusted_root.production.json").read_text()


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


def _document(*, keys: str = "", identities: str = "", tiers: str = "", root: bool = True) -> str:
    trusted_root = f"  trusted_root: |\n{_indent(ROOT, 4)}\n" if root else ""
    return (
        "apiVersion: harbourmaster.io/v1\nkind: Governance\nsigning:\n"
        f"  keys:\n{keys or '    []'}\n  identities:\n{identities or '    []'}\n{trusted_root}{tiers}"
    )


RELEASE_KEY = f"    - name: release\n      public_key: |\n{_indent(PUBLIC_KEY, 8)}"
GH_IDENTITY = (
    "    - {name: gh-release, issuer: 'https://token.actions.githubusercontent.com', "
    "subject_regex: '^https://github\\.com/corp/.+$'}"
)


def test_the_signing_section_round_trips_through_the_model_and_export(core: Harbourmaster) -> None:
    tiers = "tiers:\n  production: {signers: [release, gh-release], signers_required: all}\n"
    result = apply_document(
        core, ADMIN, _document(keys=RELEASE_KEY, identities=GH_IDENTITY, tiers=tiers), source="doc.yaml"
    )
    assert result.applied
    assert "+ signing key release" in result.changes and "+ signing identity gh-release" in result.changes
    state = core.state()
    assert [k.name for k in state.signing.keys] == ["release"]
    assert state.signing.identities[0].issuer == "https://token.actions.githubusercontent.com"
    assert state.signing.trusted_root_json is not None
    production = state.tiers[Tier.PRODUCTION]
    assert (
        production.signers == ("release", "gh-release") and production.signers_required is SignersRequired.ALL
    )
    exported = export_yaml(state)
    again = apply_document(core, ADMIN, exported, source="exported.yaml")
    assert not again.applied and again.changes == []


def test_every_problem_of_the_section_is_reported_with_its_path_in_one_pass(core: Harbourmaster) -> None:
    bad_key = (
        "    - {name: broken, public_key: '-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----\\n'}"
    )
    bad_identity = "    - {name: rx, issuer: 'https://issuer.example', subject_regex: '(['}"
    tiers = "tiers:\n  production: {signers: [relase, broken]}\n"
    before = core.state()
    with pytest.raises(BadInput) as caught:
        apply_document(
            core,
            ADMIN,
            _document(keys=f"{RELEASE_KEY}\n{bad_key}", identities=bad_identity, tiers=tiers),
            source="doc.yaml",
        )
    details = "\n".join(caught.value.details)
    assert "signing.keys[1].public_key: not a PEM public key" in details
    assert "signing.identities[0].subject_regex: not a regular expression" in details
    assert (
        "tiers.production.signers[0]: signer relase is not defined under signing (did you mean release?)"
        in details
    )
    assert "broken is not defined" not in details  # its own entry was reported already
    assert core.state() == before  # nothing written


def test_identities_need_a_trusted_root_and_files_are_read_only_by_the_cli(core: Harbourmaster) -> None:
    with pytest.raises(BadInput) as caught:
        apply_document(core, ADMIN, _document(identities=GH_IDENTITY, root=False), source="doc.yaml")
    assert any(d.startswith("signing.trusted_root: keyless identities") for d in caught.value.details)
    with pytest.raises(BadInput) as caught:
        apply_document(
            core,
            ADMIN,
            _document(keys="    - {name: k, public_key: 'file:/etc/hm/k.pub'}"),
            source="doc.yaml",
        )
    assert any("files are read only by the harbourmaster CLI" in d for d in caught.value.details)


def test_only_governance_writers_may_change_the_section(core: Harbourmaster) -> None:
    with pytest.raises(Forbidden, match=r"governance\.write"):
        apply_document(core, AUDITOR, _document(keys=RELEASE_KEY), source="doc.yaml")
    assert apply_document(core, ENGINEER, _document(keys=RELEASE_KEY), source="doc.yaml").applied


def test_vault_keys_are_write_only_and_named_once(core: Harbourmaster) -> None:
    created = generate_signing_key(core, ENGINEER, "release", algorithm=KeyAlgorithm.ED25519)
    assert created.algorithm == "ed25519" and created.public_key.startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(Conflict):
        generate_signing_key(core, ADMIN, "release")
    with pytest.raises(Forbidden):
        generate_signing_key(core, AUDITOR, "other")
    with pytest.raises(BadInput, match="not valid"):
        generate_signing_key(core, ADMIN, "Not Valid")
    key, stored = open_signing_key(core, "release")
    assert fingerprint(key) == created.fingerprint == stored.fingerprint
    der = private_key_der(key)
    listed = list_signing_keys(core, AUDITOR)
    shown = signing_key(core, AUDITOR, "release")
    for text in (str([k.model_dump() for k in listed]), shown.model_dump_json(), export_yaml(core.state())):
        assert der.hex() not in text and "PRIVATE" not in text
    with core.store.read() as tx:
        found = tx.signing.sealed_key("release")
        audit = [e for e in tx.audit.entries() if e.action.startswith("signing-key.")]
    assert found is not None and der not in found[1]  # sealed, not stored as is
    assert [(e.action, e.details["fingerprint"]) for e in audit] == [
        ("signing-key.generate", created.fingerprint)
    ]
    with pytest.raises(NotFound, match="did you mean release"):
        signing_key(core, ADMIN, "relase")


def test_without_registry_rights_only_images_of_a_registry_granted_on_the_environment_are_verified(
    core: Harbourmaster, example_secrets: dict[str, str]
) -> None:
    from harbourmaster.services.signing import verify_image
    from tests.services.unit._example import apply_example

    apply_example(core)
    digest = "sha256:" + "a" * 64
    web_image = (
        f"harbor.corp/web/app@{digest}"  # harbor-web: granted on prod-eu and staging, not on dev-docker
    )
    for caller in (Principal("tools-dev", Role.TEAM_MEMBER), AUDITOR):
        with pytest.raises(Forbidden, match="registry harbor-web is not granted on environment dev-docker"):
            verify_image(core, caller, web_image, environment="dev-docker")
    # A registry granted there: verified (the in-memory registry holds no signature for it, and the
    # development tier requires none).
    result = verify_image(core, AUDITOR, f"harbor.corp/payments/api@{digest}", environment="dev-docker")
    assert result.satisfied and result.signatures == [] and "no signature is required" in result.reason
