"""The local-SBOM flow as a service: generate from an image on disk, keep it in the store (checked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.errors import Forbidden
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.local_sboms import generate_local_sbom, keep_local_sbom, sbom_store_unavailable
from harbourmaster.services.sboms import list_sboms
from harbourmaster.settings import Settings
from harbourmaster.supply.sbom import SbomFormat, parse_platform, validate_sbom
from tests.supply.test_cli_sbom import layout

AMD64 = parse_platform("linux/amd64")


def test_generate_then_keep(tmp_path: Path) -> None:
    assert sbom_store_unavailable(Settings.from_environ()) is not None  # no data directory yet
    source = f"oci-layout:{layout(tmp_path)}:v1"
    local = generate_local_sbom(source, fmt=SbomFormat.SPDX_JSON, platform=AMD64)
    validate_sbom(local.document, SbomFormat.SPDX_JSON)
    summary = local.public(output=None)
    assert summary.distro is not None and summary.distro.id == "debian"
    assert (summary.packages, summary.format, summary.output) == (1, "spdx-json", None)

    hm = Harbourmaster.from_environ()
    hm.init()
    assert sbom_store_unavailable(hm.settings) is None
    with pytest.raises(Forbidden):
        keep_local_sbom(hm, Principal("auditor", Role.AUDITOR), local)
    assert list_sboms(hm) == []
    stored = keep_local_sbom(hm, Principal("ops", Role.PLATFORM_ENGINEER), local)
    assert (stored.image_digest, stored.component_count, stored.origin) == (
        local.sbom.image.digest,
        1,
        "generated",
    )
    with hm.store.read() as tx:
        assert [(e.actor, e.action) for e in tx.audit.entries(after=0)][-1] == ("ops", "sbom.store")
