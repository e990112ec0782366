"""SBOM operations on registry images: authorisation, audit, environments, and the store's index
for fetched documents (checked against the index of the SBOM they were rendered from)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.cli._common import local_principal
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.errors import Forbidden
from harbourmaster.services._sbom_documents import document_components
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_resolve import ResolveRefused
from harbourmaster.services.registry_scope import ImageNotInApprovedRegistry
from harbourmaster.services.sbom_ops import (
    attach_image_sbom,
    fetch_image_sbom,
    generate_image_sbom,
    stored_sboms,
)
from harbourmaster.services.sboms import component_rows
from harbourmaster.store.values import IndexedComponent
from harbourmaster.supply.sbom import SbomFormat, default_catalogers, render_sbom, scan_image
from harbourmaster.supply.sbom.attach import NoSbomAttached
from tests.integration.registry_fixtures import PASSWORD, skopeo
from tests.supply._images import file, image
from tests.supply._layouts import add_image, write_index

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

ADMIN = Principal("admin", Role.ADMINISTRATOR)
STATUS = Path("/var/lib/dpkg/status").read_text()
OS_RELEASE = Path("/usr/lib/os-release").read_text()
REPO = "hmsbomsvc/app"
KEYS = ("purl", "purl_type", "name", "version", "source_package", "source_version", "distro", "layer_digest")


def _key(rows: list[IndexedComponent]) -> list[tuple[str | None, ...]]:
    return sorted(tuple(getattr(r, k) for k in KEYS) for r in rows)


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_a_documents_index_equals_the_index_of_the_sbom_it_was_rendered_from(fmt: SbomFormat) -> None:
    source = image([file("var/lib/dpkg/status", STATUS), file("etc/os-release", OS_RELEASE)],
                   [file("usr/lib/python3/dist-packages/hm_demo-2.0.dist-info/METADATA",
                         "Metadata-Version: 2.1\nName: hm-demo\nVersion: 2.0\n")])
    sbom = scan_image(source, catalogers=default_catalogers())
    assert len(sbom.packages) > 100
    assert _key(document_components(render_sbom(sbom, fmt), fmt)) == _key(component_rows(sbom))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_documents_never_crash_the_indexer(text: str) -> None:
    for fmt in SbomFormat:
        try:
            rows = document_components(text, fmt)
        except Exception as exc:  # only the documented error
            assert type(exc).__name__ == "BadInput", exc
        else:
            assert isinstance(rows, list)


GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: svc-sbom
    provider: custom
    url: http://{host}
    credential: {{kind: user, username: {user}, secret: env:HM_SBOM_SVC_SECRET}}
    tls: {{insecure: true}}
environments:
  - name: dev
    kind: docker-standalone
    tier: development
  - name: elsewhere
    kind: docker-standalone
    tier: development
users:
  - name: dev-user
  - name: watcher
    role: auditor
access:
  - environment: dev
    user: dev-user
  - environment: elsewhere
    user: dev-user
grants:
  - registry: svc-sbom
    environment: dev
    users: [dev-user]
"""


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory, registry_basic: RunningRegistry) -> str:
    layout = tmp_path_factory.mktemp("sbom-svc") / "layout"
    layer = image([file("var/lib/dpkg/status", STATUS), file("etc/os-release", OS_RELEASE)]).blobs[0]
    write_index(layout, [add_image(layout, [layer])], ["v1"])
    skopeo(registry_basic, "copy", f"oci:{layout}:v1", f"docker://{registry_basic.host}/{REPO}:v1")
    return skopeo(registry_basic, "inspect", "--format", "{{.Digest}}",
                  f"docker://{registry_basic.host}/{REPO}:v1").strip()


@pytest.fixture
def governed(hm: Harbourmaster, registry_basic: RunningRegistry, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HM_SBOM_SVC_SECRET", PASSWORD)
    document = GOVERNANCE.format(host=registry_basic.host, user=registry_basic.username)
    apply_document(hm, local_principal(hm), document, source="sbom.yaml", host=hm.host_files())
    return f"{registry_basic.host}/{REPO}:v1"


def _audit_count(hm: Harbourmaster) -> int:
    with hm.store.read() as tx:
        return sum(1 for _ in tx.audit.entries())


@pytest.mark.integration
def test_only_registry_operators_may_generate_attach_or_fetch(hm: Harbourmaster, governed: str,
                                                             pushed: str) -> None:
    before = _audit_count(hm)
    for who in (Principal("watcher", Role.AUDITOR), Principal("dev-user", Role.TEAM_MEMBER)):
        for operation in (generate_image_sbom, attach_image_sbom, fetch_image_sbom):
            with pytest.raises(Forbidden, match=r"may not registry\.probe"):
                operation(hm, who, governed)
    assert _audit_count(hm) == before  # refused before any credential was opened
    assert stored_sboms(hm, Principal("watcher", Role.AUDITOR)) == []
    with pytest.raises(ImageNotInApprovedRegistry, match=r"ghcr\.io/nobody/app:1 is in no approved registry"):
        generate_image_sbom(hm, ADMIN, "ghcr.io/nobody/app:1")


@pytest.mark.integration
def test_attach_with_environments_then_fetch_indexes_the_fetched_document(hm: Harbourmaster, governed: str,
                                                                          pushed: str) -> None:
    with pytest.raises(NoSbomAttached):
        fetch_image_sbom(hm, ADMIN, governed, fmt=SbomFormat.SPDX_JSON)
    with pytest.raises(ResolveRefused, match="environment elsewhere"):
        attach_image_sbom(hm, ADMIN, governed, environments=["dev", "elsewhere"])
    attached = attach_image_sbom(hm, ADMIN, governed, fmt=SbomFormat.SPDX_JSON, environments=["dev"])
    assert attached.generated and attached.digest == pushed and attached.artifact is not None
    fetched = fetch_image_sbom(hm, ADMIN, governed, fmt=SbomFormat.SPDX_JSON)
    assert fetched.document == attached.document
    assert fetched.stored.origin == "fetched" and fetched.stored.component_count == attached.packages
    with hm.store.read() as tx:
        rows = [c for c in tx.sboms.indexed(fetched.stored.id) if c.name == "libc6"]
        assert [(r.purl_type, r.source_package, r.distro) for r in rows] == [("deb", "glibc", "debian-12")]
        assert rows[0].layer_digest is not None and rows[0].layer_digest.startswith("sha256:")
        records = [dict(e.details) for e in tx.audit.entries() if e.action == "sbom.attach"]
    ok = [d for d in records if "artifact" in d]
    assert ok and ok[-1]["environments"] == ["dev"] and ok[-1]["via"] == "tag-schema"
