"""The registry.push job: who it acts for, what it may read, and which manifests it leaves alone."""

from __future__ import annotations

import json

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.errors import Forbidden
from harbourmaster.registry.media import parse_manifest
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.job_kinds import job_principal
from harbourmaster.services.push_scans import artifact_reason, run_push_scan
from tests.fakes.core import unit_core
from tests.store.support import apply_example

DIGEST = "sha256:" + "a" * 64
CONFIG = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + "c" * 64, "size": 2}
LAYER = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:" + "d" * 64,
         "size": 9}


@pytest.fixture
def hm(monkeypatch: pytest.MonkeyPatch) -> Harbourmaster:
    core = unit_core()
    apply_example(core, monkeypatch)
    return core


def _job(hm: Harbourmaster, *, kind: str, created_by: str) -> object:
    with hm.store.transaction() as tx:
        return tx.jobs.enqueue(kind=kind, payload={"registry": "harbor-payments"}, created_by=created_by,
                               now=hm.clock.now())


def test_a_registry_push_job_acts_for_its_registry(hm: Harbourmaster) -> None:
    job = _job(hm, kind="registry.push", created_by="registry:harbor-payments")
    principal = job_principal(hm, job)  # type: ignore[arg-type]
    assert principal == Principal("registry:harbor-payments", Role.PLATFORM_ENGINEER)


@pytest.mark.parametrize(("kind", "actor"), [("sbom.generate", "registry:harbor-payments"),
                                             ("registry.push", "registry:gone")])
def test_a_registry_actor_is_no_one_else(hm: Harbourmaster, kind: str, actor: str) -> None:
    with pytest.raises(Forbidden):
        job_principal(hm, _job(hm, kind=kind, created_by=actor))  # type: ignore[arg-type]


def test_the_job_reads_only_the_registry_that_reported_the_push(hm: Harbourmaster) -> None:
    web = Principal("registry:harbor-web", Role.PLATFORM_ENGINEER)
    payload = {"registry": "harbor-payments", "repository": "payments/api", "digest": DIGEST}
    with pytest.raises(Forbidden, match="registry:harbor-web may not scan images of registry harbor-pay"):
        run_push_scan(hm, web, payload)
    payments = Principal("registry:harbor-payments", Role.PLATFORM_ENGINEER)
    # harbor.corp/web/... is harbor-web's, though on the same host: refused before any registry is asked.
    with pytest.raises(Forbidden, match="not in registry harbor-payments"):
        run_push_scan(hm, payments, {**payload, "repository": "web/site"})
    with hm.store.read() as tx:
        assert not [e for e in tx.audit.entries() if e.action == "credential.use"]


def _manifest(**doc: object) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": CONFIG, "layers": [LAYER], **doc}).encode()


def test_an_image_is_scanned() -> None:
    assert artifact_reason(parse_manifest(_manifest())) is None
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [{**CONFIG, "mediaType": "application/vnd.oci.image.manifest.v1+json"}]}
    assert artifact_reason(parse_manifest(json.dumps(index).encode())) is None


@pytest.mark.parametrize(
    ("manifest", "reason"),
    [
        (_manifest(subject={**CONFIG, "mediaType": "application/vnd.oci.image.manifest.v1+json"}),
         "refers to"),
        (_manifest(artifactType="application/vnd.cyclonedx+json"), "artifact of type"),
        (_manifest(config={**CONFIG, "mediaType": "application/vnd.oci.empty.v1+json"}), "not an image"),
        (_manifest(layers=[{**LAYER, "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json"}]),
         "not file system layers"),
    ],
)
def test_signatures_attestations_and_sboms_are_not(manifest: bytes, reason: str) -> None:
    found = artifact_reason(parse_manifest(manifest))
    assert found is not None and reason in found
