"""``airgap export`` / ``airgap import`` on a core of fakes: who may, which arguments are refused
before anything is read, and a refusal audited as failed.

The real round trip is in tests/integration/test_airgap.py.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from harbourmaster.airgap import MANIFEST, SIGNATURE, BundleManifest, BundleTampered
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.imageset import parse_image_set
from harbourmaster.domain.model import Role
from harbourmaster.errors import BadInput, Forbidden, NotFound
from harbourmaster.services.airgap_export import export_bundle
from harbourmaster.services.airgap_import import import_bundle
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.signing_keys import generate_signing_key
from harbourmaster.services.signing_sources import VaultKey, private_key
from harbourmaster.signing.signatures import sign_bytes
from tests.fakes.core import unit_core

ADMIN = Principal("local:test", Role.ADMINISTRATOR)
MEMBER = Principal("local:dev", Role.TEAM_MEMBER)
DOCUMENT = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - {name: airgapped, provider: custom, url: 'https://airgapped.example'}
"""


@pytest.fixture
def hm() -> Harbourmaster:
    core = unit_core()
    apply_document(core, ADMIN, DOCUMENT, source="test.yaml")
    generate_signing_key(core, ADMIN, "release")
    generate_signing_key(core, ADMIN, "other")
    return core


def _bundle(hm: Harbourmaster, root: Path, *, key: str) -> Path:
    manifest = BundleManifest(
        created="2026-11-30T00:00:00+00:00",
        creator="t",
        signer=key,
        advisory_snapshot=None,
        since=None,
        images=(),
        blobs=(),
    )
    raw = manifest.to_bytes()
    root.mkdir()
    (root / MANIFEST).write_bytes(raw)
    (root / SIGNATURE).write_bytes(base64.b64encode(sign_bytes(private_key(hm, VaultKey(key))[0], raw)))
    return root


def test_only_registry_operators_import_and_export(hm: Harbourmaster, tmp_path: Path) -> None:
    with pytest.raises(Forbidden):
        import_bundle(hm, MEMBER, tmp_path, registry="airgapped", signer="release")
    image_set = parse_image_set(
        {"apiVersion": "harbourmaster.io/v1", "kind": "ImageSet", "images": ["airgapped.example/a:1"]},
        source="s",
    )
    with pytest.raises(Forbidden):
        export_bundle(hm, MEMBER, image_set, output=tmp_path / "out", signer="release")
    with pytest.raises(BadInput, match="--signer"):
        export_bundle(hm, ADMIN, image_set, output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of --key"),
        ({"signer": "release", "key": object()}, "exactly one of --key"),
        ({"signer": "release", "emergency": True}, "--emergency needs --reason"),
        ({"signer": "release", "emergency": True, "reason": "  "}, "--emergency needs --reason"),
        ({"signer": "release", "reason": "why"}, "--reason is for --emergency"),
    ],
)
def test_arguments_are_checked_before_the_bundle_is_read(
    hm: Harbourmaster, tmp_path: Path, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(BadInput, match=message):
        import_bundle(hm, ADMIN, tmp_path / "nowhere", registry="airgapped", **kwargs)  # type: ignore[arg-type]


def test_an_unknown_registry_is_named(hm: Harbourmaster, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="airgaped"):
        import_bundle(hm, ADMIN, tmp_path, registry="airgaped", signer="release")


def test_a_signature_by_another_key_is_refused_and_audited_as_failed(
    hm: Harbourmaster, tmp_path: Path
) -> None:
    bundle = _bundle(hm, tmp_path / "b", key="other")
    with pytest.raises(BundleTampered) as caught:
        import_bundle(
            hm, ADMIN, bundle, registry="airgapped", signer="release", emergency=True, reason="CVE fix"
        )
    assert (caught.value.file, caught.value.check) == (SIGNATURE, "signature")
    with hm.store.read() as tx:
        last = list(tx.audit.entries())[-1]
        assert tx.approved_content.approved("airgapped") == []
    assert (last.action, last.result) == ("airgap.import", "failed")
    assert last.details["emergency"] is True and last.details["reason"] == "CVE fix"
    assert "manifest.json.sig: signature failed" in str(last.details["error"])


def test_a_manifest_signed_by_the_key_but_missing_its_checksums_is_refused(
    hm: Harbourmaster, tmp_path: Path
) -> None:
    bundle = _bundle(hm, tmp_path / "b", key="release")
    with pytest.raises(BundleTampered) as caught:
        import_bundle(hm, ADMIN, bundle, registry="airgapped", signer="release")
    assert (caught.value.file, caught.value.check) == ("checksums.sha256", "presence")
