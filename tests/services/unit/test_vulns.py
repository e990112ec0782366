"""Continuous correlation on the fakes: an advisory import finds the stored SBOMs it newly affects, audits
each image, and announces it through the core's notifier (recorded here, never sent)."""

from __future__ import annotations

import datetime as dt

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.sboms import store_sbom
from harbourmaster.services.vulns import NEWLY_AFFECTED_EVENT, affected_since, import_vulndb, parse_since
from harbourmaster.supply.advisories.osv import OsvRecords
from harbourmaster.supply.sbom import SbomFormat
from tests.fakes.clock import FixedClock
from tests.fakes.core import unit_core
from tests.fakes.notifier import RecordingNotifier
from tests.services.test_sboms import DIGEST, sample
from tests.supply.advisories._osv import CVSS_HIGH, CVSS_MEDIUM, fixed_at, record

ADMIN = Principal("admin", Role.ADMINISTRATOR)
AUDITOR = Principal("auditor", Role.AUDITOR)
OPENSSL = record("DSA-5532-1", "Debian:12", "openssl", events=fixed_at("3.0.11-1~deb12u3"), cvss=CVSS_HIGH)
REQUESTS = record("GHSA-9wx4-h78v-vm56", "PyPI", "requests", events=fixed_at("2.32.0"), cvss=CVSS_MEDIUM)


def _import(core: Harbourmaster, *records: dict[str, object], name: str = "unit"):  # type: ignore[no-untyped-def]
    return import_vulndb(core, ADMIN, source=OsvRecords(list(records), description=name))


@pytest.fixture
def stored(core: Harbourmaster) -> str:
    return store_sbom(core, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="test").image_digest


def test_a_newly_affected_image_is_audited_and_notified_once(
    core: Harbourmaster, notifier: RecordingNotifier, stored: str
) -> None:
    first = _import(core, OPENSSL)
    assert [n.image_digest for n in first.newly_affected] == [stored] == [DIGEST]
    (note,) = notifier.sent
    assert (note.event, note.subject) == (NEWLY_AFFECTED_EVENT, stored)
    assert note.payload["import_id"] == first.import_id
    assert note.payload["image_name"] == "harbor.corp/payments/api:1"
    assert [a["id"] for a in note.payload["advisories"]] == ["DSA-5532-1"]  # type: ignore[union-attr]
    assert first.webhook == [f"{stored}: HTTP 204"]
    with core.store.read() as tx:
        audited = [(e.action, e.target, e.details.get("advisories")) for e in tx.audit.entries()][-2:]
    assert audited == [
        ("vulndb.import", "unit", None),
        ("vuln.newly-affected", "harbor.corp/payments/api:1", ["DSA-5532-1"]),
    ]

    again = _import(core, dict(OPENSSL, modified="2025-01-01T00:00:00Z"), name="again")
    assert again.updated == 1 and again.newly_affected == [] and again.webhook == []
    assert len(notifier.sent) == 1  # known pairs are not news

    third = _import(core, REQUESTS, name="third")
    assert [sorted(a["id"] for a in n.advisories) for n in third.newly_affected] == [["GHSA-9wx4-h78v-vm56"]]
    assert [n.subject for n in notifier.sent] == [stored, stored]


def test_a_failed_delivery_is_reported_and_does_not_fail_the_import() -> None:
    failing = RecordingNotifier(failing=[DIGEST])
    core = unit_core(notifier=failing)
    store_sbom(core, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="test")
    result = _import(core, OPENSSL)
    assert len(result.newly_affected) == 1
    assert result.webhook == [f"{DIGEST}: failed (ConnectError)"]
    with core.store.read() as tx:
        assert "vuln.newly-affected" in {e.action for e in tx.audit.entries()}


def test_affected_since_a_duration_counts_back_from_the_clock(
    core: Harbourmaster, clock: FixedClock, stored: str
) -> None:
    _import(core, OPENSSL)
    assert [a.image_digest for a in affected_since(core, AUDITOR, since=parse_since("1h"))] == [stored]
    clock.advance(dt.timedelta(hours=2))
    assert affected_since(core, AUDITOR, since=parse_since("1h")) == []
    assert [a.image_digest for a in affected_since(core, AUDITOR, since=parse_since("3h"))] == [stored]
    assert parse_since("1h", now=clock.now()) == clock.now() - dt.timedelta(hours=1)
