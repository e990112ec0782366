"""The advisory repository on SQLite and PostgreSQL: batches insert new advisories and replace older ones,
the import log, look-ups by ecosystem base and name or by row id (withdrawn ones never), and matches
recorded once each and read back with their image."""

from __future__ import annotations

import datetime as dt

from harbourmaster.domain.severity import Severity
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.values import (
    AdvisoryMatch,
    AdvisoryRecord,
    AffectedEntry,
    AffectedRecord,
    ImageMatch,
    ImportSummary,
    SbomDocument,
)

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
RANGES = [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.2.0"}]}]


def _record(ident: str, ecosystem: str, key: str, name: str, *, modified: dt.datetime = T0,
            withdrawn: dt.datetime | None = None, severity: Severity = Severity.HIGH) -> AdvisoryRecord:
    return AdvisoryRecord(
        id=ident, modified=modified, published=T0, withdrawn=withdrawn, aliases=(f"CVE-{ident}",),
        summary=f"summary of {ident}", severity=severity, severity_source="CVSS_V3", score=7.5,
        affected=(AffectedRecord(ecosystem=ecosystem, ecosystem_key=key, ecosystem_base=key.split(":")[0],
                                 name=name, ranges=RANGES, versions=("1.0.0",)),),
    )


def _summary(**counts: int) -> ImportSummary:
    base = {"records": 0, "inserted": 0, "updated": 0, "unchanged": 0, "withdrawn": 0, "skipped": 0}
    return ImportSummary(finished_at=T0 + dt.timedelta(hours=1), problems=("p",), **{**base, **counts})


def test_batches_insert_replace_newer_and_leave_the_rest(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        assert tx.advisories.generation() is None
        first = tx.advisories.begin_import(source="one.zip", actor="t", started_at=T0)
        outcome = tx.advisories.write_batch(first, [
            _record("A-1", "Debian:12", "debian:12", "openssl"),
            _record("A-2", "PyPI", "pypi", "django"),
            _record("A-3", "npm", "npm", "lodash", withdrawn=T0),
        ])
        tx.advisories.finish_import(first, _summary(records=3, inserted=3, withdrawn=1))
    assert (outcome.inserted, outcome.updated, outcome.unchanged, outcome.withdrawn) == (3, 0, 0, 1)
    assert len(set(outcome.changed)) == 3
    with hm.store.transaction() as tx:
        second = tx.advisories.begin_import(source="two.zip", actor="t", started_at=T0)
        again = tx.advisories.write_batch(second, [
            _record("A-1", "Debian:12", "debian:12", "libssl", modified=T0 + dt.timedelta(days=1),
                    severity=Severity.CRITICAL),
            _record("A-2", "PyPI", "pypi", "django"),  # not newer: left alone
            _record("A-4", "Go", "go", "example.com/m"),
        ])
        assert tx.advisories.generation() == second > first
    assert (again.inserted, again.updated, again.unchanged, again.withdrawn) == (1, 1, 1, 0)
    with hm.store.read() as tx:
        # the update replaced the entry: no openssl entry is left
        assert list(tx.advisories.affected("debian", ["openssl"])) == []
        (libssl,) = tx.advisories.affected("debian", ["libssl", "nothing"])
        assert libssl == AffectedEntry("A-1", ["CVE-A-1"], "summary of A-1", Severity.CRITICAL, "Debian:12",
                                       "debian:12", "libssl", RANGES, ["1.0.0"])
        assert list(tx.advisories.affected("npm", ["lodash"])) == []  # withdrawn
        changed = {e.advisory_id for e in tx.advisories.affected_by_id(list(again.changed))}
        assert changed == {"A-1", "A-4"}
        assert {e.advisory_id for e in tx.advisories.affected_by_id(list(outcome.changed))} == {"A-1", "A-2"}
        status = tx.advisories.status()
    assert (status.advisories, status.withdrawn, status.imports) == (4, 1, 2)
    assert status.per_ecosystem == {"Debian:12": 1, "Go": 1, "PyPI": 1}
    assert status.newest_modified == T0 + dt.timedelta(days=1)
    # the second import was not finished: the last finish is the first one's
    assert status.last_import == T0 + dt.timedelta(hours=1)


def test_records_walks_every_advisory_with_its_entries_a_page_at_a_time(hm: Harbourmaster) -> None:
    many = [_record(f"B-{i:03d}", "npm", "npm", f"pkg{i}") for i in range(7)]
    two = AffectedRecord(ecosystem="Debian:12", ecosystem_key="debian:12", ecosystem_base="debian",
                         name="curl", ranges=[], versions=("7.0",))
    gone = _record("B-gone", "npm", "npm", "left-pad", withdrawn=T0 + dt.timedelta(days=2))
    both = AdvisoryRecord(**{**{f: getattr(many[0], f) for f in many[0].__slots__}, "id": "B-two",
                             "affected": (*many[0].affected, two), "score": None})
    with hm.store.transaction() as tx:
        assert list(tx.advisories.records()) == []
        first = tx.advisories.begin_import(source="one.zip", actor="t", started_at=T0)
        tx.advisories.write_batch(first, [*many, gone, both])
        newer = _record("B-003", "npm", "npm", "renamed", modified=T0 + dt.timedelta(days=1))
        tx.advisories.write_batch(first, [newer])
    with hm.store.read() as tx:
        for batch_size in (1, 3, 1000):
            walked = list(tx.advisories.records(batch_size=batch_size))
            # In row order, withdrawn ones too, each as it was written (the replaced one as replaced).
            assert walked == [*many[:3], newer, *many[4:], gone, both]


def test_look_ups_are_chunked(hm: Harbourmaster) -> None:
    records = [_record(f"N-{i}", "npm", "npm", f"pkg{i}") for i in range(1100)]
    with hm.store.transaction() as tx:
        import_id = tx.advisories.begin_import(source="many", actor="t", started_at=T0)
        outcome = tx.advisories.write_batch(import_id, records)
    with hm.store.read() as tx:
        names = [f"pkg{i}" for i in range(0, 1100, 2)] + ["absent"]
        assert {e.name for e in tx.advisories.affected("npm", names)} == set(names) - {"absent"}
        assert len(list(tx.advisories.affected_by_id(list(outcome.changed)))) == 1100


def _stored_image(hm: Harbourmaster, n: int) -> int:
    with hm.store.transaction() as tx:
        return tx.sboms.replace(
            SbomDocument(image_digest=f"sha256:{n:064x}", image_name=f"r.example/app{n}:1",
                         platform="linux/amd64", format="cyclonedx-json", distro=None, origin="generated",
                         document="{}", components=()),
            created_at=T0,
        ).id


def _match(sbom_id: int, advisory: str, purl: str, *, at: dt.datetime) -> AdvisoryMatch:
    return AdvisoryMatch(sbom_id=sbom_id, advisory_id=advisory, purl=purl, purl_hash=purl.rjust(40, "x"),
                         version="1.0.0", severity=Severity.MEDIUM, first_seen=at, import_id=1)


def test_matches_are_recorded_once_and_read_back_with_their_image(hm: Harbourmaster) -> None:
    one, two = _stored_image(hm, 1), _stored_image(hm, 2)
    early = _match(one, "A-1", "pkg:npm/a@1.0.0", at=T0)
    late = [
        _match(one, "A-1", "pkg:npm/b@1.0.0", at=T0 + dt.timedelta(hours=2)),
        _match(two, "A-2", "pkg:npm/a@1.0.0", at=T0 + dt.timedelta(hours=1)),
    ]
    with hm.store.transaction() as tx:
        assert tx.advisories.add_matches([]) == []
        assert tx.advisories.add_matches([early]) == [early]
    with hm.store.transaction() as tx:
        again = dict(early._asdict(), first_seen=T0 + dt.timedelta(days=9))
        assert tx.advisories.add_matches([AdvisoryMatch(**again), *late]) == late
    with hm.store.read() as tx:
        since = tx.advisories.matches_since(T0 + dt.timedelta(minutes=30))
        everything = tx.advisories.matches_since(T0)
    assert since == [
        ImageMatch(f"sha256:{2:064x}", "r.example/app2:1", late[1]),
        ImageMatch(f"sha256:{1:064x}", "r.example/app1:1", late[0]),
    ]
    assert [m.match for m in everything] == [early, late[1], late[0]]


def test_affected_by_name_finds_an_advisory_by_its_id_or_an_alias_exactly(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        first = tx.advisories.begin_import(source="one.zip", actor="t", started_at=T0)
        tx.advisories.write_batch(first, [
            _record("GHSA-1", "PyPI", "pypi", "django"),
            _record("GHSA-10", "npm", "npm", "lodash"),  # alias CVE-GHSA-10 contains "CVE-GHSA-1"
            _record("GHSA-2", "npm", "npm", "left-pad", withdrawn=T0),
        ])
    with hm.store.read() as tx:
        assert [e.name for e in tx.advisories.affected_by_name("cve-ghsa-1")] == ["django"]
        assert [e.name for e in tx.advisories.affected_by_name("GHSA-10")] == ["lodash"]
        assert list(tx.advisories.affected_by_name("CVE-GHSA-2")) == []  # withdrawn
        assert list(tx.advisories.affected_by_name('%"')) == []
        assert list(tx.advisories.affected_by_name("")) == []
