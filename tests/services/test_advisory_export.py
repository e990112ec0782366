"""The advisory database written back out as OSV (``airgap export --advisories``): the records read
from the store a batch at a time (SQLite and PostgreSQL, and the in-memory fake), rebuilt as OSV, and
imported into a second database, come back as the same stored advisories and match an SBOM
identically; every way the importer derives a severity round-trips with its score."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harbourmaster.domain.cvss_vectors import vector_for_score
from harbourmaster.domain.severity import Severity, severity_from_cvss
from harbourmaster.services.advisories import StoredAdvisoryIndex, import_advisories
from harbourmaster.services.advisory_export import osv_document, write_osv_zip
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.interface import Store
from harbourmaster.store.values import AdvisoryRecord
from harbourmaster.supply.advisories import open_osv
from harbourmaster.supply.scan import Component, Matcher
from tests.fakes.core import unit_core
from tests.integration.postgres import core_on
from tests.supply.advisories._osv import EVERY_SHAPE_SBOM as SBOM
from tests.supply.advisories._osv import every_shape as _corpus
from tests.supply.advisories._osv import write_zip


def _records(store: Store, *, batch_size: int = 1000) -> list[AdvisoryRecord]:
    with store.read() as tx:
        return list(tx.advisories.records(batch_size=batch_size))


def _import(hm: Harbourmaster, path: Path) -> None:
    with hm.store.transaction() as tx:
        report = import_advisories(tx.advisories, open_osv(path), actor="test", clock=hm.clock, strict=True)
    assert report.skipped == 0


def _findings(hm: Harbourmaster) -> list[str]:
    result = Matcher(StoredAdvisoryIndex(hm.store)).match([Component.from_purl(p) for p in SBOM])
    return sorted(repr(f) for f in result.findings)


@pytest.fixture
def source(database_url: str, tmp_path: Path) -> Iterator[Harbourmaster]:
    core = core_on(database_url, tmp_path / "source")
    _import(core, write_zip(tmp_path / "all.zip", _corpus()))
    yield core
    core.db.dispose()


def test_exported_records_reimport_to_the_same_advisories_and_findings(
    source: Harbourmaster, tmp_path: Path
) -> None:
    stored = _records(source.store, batch_size=4)  # several pages of the keyset walk
    assert [r.id for r in stored] == [r["id"] for r in _corpus()]
    assert _records(source.store) == stored
    written = write_osv_zip(iter(stored), tmp_path / "osv.zip")
    assert (written.records, written.approximated) == (len(stored), 0)
    with zipfile.ZipFile(tmp_path / "osv.zip") as archive:
        assert len(archive.namelist()) == len(stored)
    target = core_on(f"sqlite:///{tmp_path / 'target.db'}", tmp_path / "target")
    try:
        _import(target, tmp_path / "osv.zip")
        assert _records(target.store) == stored
        findings = _findings(source)
        assert len(findings) >= 10
        assert _findings(target) == findings
    finally:
        target.db.dispose()


def test_each_severity_source_keeps_its_severity_score_and_source(source: Harbourmaster) -> None:
    by_id = {r.id: r for r in _records(source.store)}
    seen = {(r.severity_source, r.severity, r.score) for r in by_id.values()}
    assert ("CVSS_V2", Severity.HIGH, 7.5) in seen
    assert ("CVSS_V3", Severity.CRITICAL, 9.8) in seen
    assert ("UBUNTU", Severity.MEDIUM, None) in seen
    assert ("database_specific", Severity.MEDIUM, None) in seen  # the malformed vector fell back
    assert ("none", Severity.UNKNOWN, None) in seen
    assert by_id["GHSA-v4t"].severity_source == "CVSS_V4"
    document, exact = osv_document(by_id["GHSA-crit"])
    assert exact and document["severity"][0]["type"] == "CVSS_V3"
    assert severity_from_cvss(document["severity"][0]["score"]).score == 9.8
    assert "severity" not in osv_document(by_id["GHSA-none"])[0]
    assert osv_document(by_id["DSA-1"])[0]["database_specific"] == {"severity": "Negligible"}


def test_a_score_no_vector_reaches_keeps_its_severity_and_is_counted(tmp_path: Path) -> None:
    hm = unit_core()
    _import(hm, write_zip(tmp_path / "all.zip", _corpus()))
    stored = _records(hm.store)
    odd = next(r for r in stored if r.id == "GHSA-v4")
    unreachable = type(odd)(**{**{f: getattr(odd, f) for f in odd.__slots__}, "score": 9.7})
    assert vector_for_score("CVSS_V4", 9.7) is None
    document, exact = osv_document(unreachable)
    assert not exact and document["database_specific"] == {"severity": odd.severity.value}
    # The in-memory fake walks the same records in the same order.
    written = write_osv_zip(iter([*stored, unreachable]), tmp_path / "osv.zip")
    assert (written.records, written.approximated) == (len(stored) + 1, 1)
    members = zipfile.ZipFile(tmp_path / "osv.zip").namelist()
    assert json.loads(zipfile.ZipFile(tmp_path / "osv.zip").read(members[-1]))["id"] == "GHSA-v4"


@pytest.mark.parametrize("per_archive", [5, 13])
def test_a_large_database_goes_into_several_zips_that_reimport_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, per_archive: int
) -> None:
    from harbourmaster.airgap import BundleWriter
    from harbourmaster.services import airgap_export

    hm = unit_core()
    _import(hm, write_zip(tmp_path / "all.zip", _corpus()))
    stored = _records(hm.store)
    assert len(stored) == 13
    monkeypatch.setattr(airgap_export, "ADVISORIES_PER_ARCHIVE", per_archive)
    writer = BundleWriter(tmp_path / "bundle")
    archives, approximated = airgap_export._write_advisories(writer, iter(stored))
    assert [a.records for a in archives] == ([5, 5, 3] if per_archive == 5 else [13])
    assert approximated == 0
    assert sorted(p.name for p in (tmp_path / "bundle").rglob("*")) == sorted(
        ["advisories", *(a.path.split("/")[1] for a in archives)]
    )  # no scratch file is left behind
    target = unit_core()
    _import(target, tmp_path / "bundle" / "advisories")  # vulndb import reads the directory of zips
    assert _records(target.store) == stored
