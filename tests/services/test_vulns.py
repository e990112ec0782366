"""Vulnerability services on the example governance model: import and status, scans judged per tier with
the allowlist (registry scope, expiry), VEX, and continuous correlation with audit and webhook."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harbourmaster.bootstrap import notifier_for
from harbourmaster.cli._common import local_principal
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.findings import SuppressedBy, Verdict
from harbourmaster.domain.model import Role
from harbourmaster.errors import BadInput, Forbidden, NotFound
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.sboms import store_sbom
from harbourmaster.services.scans import scan_document, scan_target
from harbourmaster.services.vulns import (
    affected_since,
    import_vulndb,
    parse_since,
    vulndb_state,
)
from harbourmaster.settings import Settings
from harbourmaster.supply.advisories import InvalidAdvisory
from harbourmaster.supply.sbom import SbomFormat, render_sbom
from tests.fakes.clock import FixedClock
from tests.services.test_sboms import sample
from tests.supply.advisories._osv import CVSS_HIGH, CVSS_MEDIUM, fixed_at, record, write_dir

ADMIN = Principal("admin", Role.ADMINISTRATOR)
AUDITOR = Principal("auditor", Role.AUDITOR)

ADVISORIES = [
    # libssl3 3.0.11-1~deb12u2 comes from source openssl: affected on Debian 12, not on 11
    record(
        "DSA-5532-1",
        "Debian:12",
        "openssl",
        events=fixed_at("3.0.11-1~deb12u3"),
        aliases=["CVE-2023-4911"],
        cvss=CVSS_HIGH,
    ),
    record("DSA-11-1", "Debian:11", "openssl", events=fixed_at("9.0.0-1"), cvss=CVSS_HIGH),
    record("GHSA-9wx4-h78v-vm56", "PyPI", "requests", events=fixed_at("2.32.0"), cvss=CVSS_MEDIUM),
    record("GHSA-fixed", "PyPI", "requests", events=fixed_at("2.30.0"), cvss=CVSS_HIGH),
]


@pytest.fixture
def governed(hm: Harbourmaster, example_text: str) -> Harbourmaster:
    apply_document(hm, local_principal(hm), example_text, source="governance.yaml", host=hm.host_files())
    hm.clock = FixedClock.on(dt.date(2026, 6, 1))
    return hm


@pytest.fixture
def sbom_file(tmp_path: Path) -> Path:
    path = tmp_path / "api.cdx.json"
    path.write_text(render_sbom(sample(), SbomFormat.CYCLONEDX_JSON))
    return path


def _import(hm: Harbourmaster, tmp_path: Path, records: list[dict[str, Any]], name: str = "osv"):  # type: ignore[no-untyped-def]
    return import_vulndb(hm, ADMIN, path=write_dir(tmp_path / name, records))


def test_import_and_status(governed: Harbourmaster, tmp_path: Path) -> None:
    result = _import(governed, tmp_path, ADVISORIES)
    assert (result.inserted, result.skipped) == (4, 0)
    status = vulndb_state(governed, AUDITOR)
    assert status.per_ecosystem == {"Debian:11": 1, "Debian:12": 1, "PyPI": 2}
    assert status.last_import is not None
    with governed.store.read() as tx:
        actions = [e.action for e in tx.audit.entries()]
    assert actions[-1] == "vulndb.import"


def test_only_vulndb_writers_may_import(governed: Harbourmaster, tmp_path: Path) -> None:
    with pytest.raises(Forbidden, match=r"vulndb\.write"):
        import_vulndb(governed, AUDITOR, path=write_dir(tmp_path / "x", ADVISORIES))
    with pytest.raises(InvalidAdvisory, match="does not exist"):
        import_vulndb(governed, ADMIN, path=tmp_path / "missing")


def test_verdicts_per_tier_with_the_registry_scoped_allowlist(
    governed: Harbourmaster, tmp_path: Path, sbom_file: Path
) -> None:
    _import(governed, tmp_path, ADVISORIES)
    plain = scan_target(governed, AUDITOR, target=str(sbom_file))
    assert {f.id for f in plain.findings} == {"DSA-5532-1", "GHSA-9wx4-h78v-vm56"}
    assert plain.verdict is None
    # harbor.corp/payments/api:1 is in registry harbor-payments, whose allowlist accepts CVE-2023-4911.
    assert plain.image.registry == "harbor-payments"
    assert next(f for f in plain.findings if f.id == "DSA-5532-1").suppressed_by == SuppressedBy.ALLOWLIST
    expected = {
        "dev-docker": Verdict.ALLOW_WITH_ADVISORY,
        "staging-k8s": Verdict.ALLOW_WITH_ADVISORY,
        "prod-eu": Verdict.ALLOW_WITH_ADVISORY,
    }
    for env, verdict in expected.items():
        result = scan_target(governed, AUDITOR, target=str(sbom_file), environment=env)
        assert result.verdict is not None and result.verdict.verdict == verdict, env
    # The same image from another registry: the entry does not apply, HIGH blocks staging and production.
    elsewhere = {
        "dev-docker": Verdict.ALLOW_WITH_ADVISORY,
        "staging-k8s": Verdict.BLOCK,
        "prod-eu": Verdict.BLOCK,
    }
    for env, verdict in elsewhere.items():
        result = scan_target(
            governed, AUDITOR, target=str(sbom_file), environment=env, image="harbor.corp/web/api:1"
        )
        assert result.image.registry == "harbor-web"
        assert result.verdict is not None and result.verdict.verdict == verdict, env
        assert result.fails == (verdict is Verdict.BLOCK)


def test_an_expired_allowlist_entry_stops_suppressing_and_says_so(
    governed: Harbourmaster, tmp_path: Path, sbom_file: Path
) -> None:
    _import(governed, tmp_path, ADVISORIES)
    governed.clock = FixedClock.on(dt.date(2027, 4, 1))
    result = scan_target(governed, AUDITOR, target=str(sbom_file), environment="prod-eu")
    finding = next(f for f in result.findings if f.id == "DSA-5532-1")
    assert finding.suppressed_by is None
    assert "allowlist entry for CVE-2023-4911 expired on 2027-03-31" in finding.notes
    assert result.verdict is not None and result.verdict.verdict == Verdict.BLOCK


def test_vex_suppresses_and_unknown_environment_is_refused(
    governed: Harbourmaster, tmp_path: Path, sbom_file: Path
) -> None:
    _import(governed, tmp_path, ADVISORIES)
    vex = json.dumps(
        {
            "statements": [
                {
                    "vulnerability": {"name": "GHSA-9wx4-h78v-vm56"},
                    "products": [{"@id": "pkg:pypi/requests"}],
                    "status": "not_affected",
                    "justification": "vulnerable_code_not_in_execute_path",
                }
            ]
        }
    )
    result = scan_target(
        governed, AUDITOR, target=str(sbom_file), environment="prod-eu", vex=[("v.json", vex)]
    )
    by_id = {f.id: f for f in result.findings}
    assert by_id["GHSA-9wx4-h78v-vm56"].suppressed_by == SuppressedBy.VEX
    assert result.verdict is not None and result.verdict.verdict == Verdict.ALLOW
    with pytest.raises(NotFound, match="no environment named 'nowhere'"):
        scan_target(governed, AUDITOR, target=str(sbom_file), environment="nowhere")


def test_bad_targets_are_clear_errors(governed: Harbourmaster, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        scan_target(governed, AUDITOR, target=str(tmp_path / "missing.json"))
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    with pytest.raises(BadInput, match="neither a CycloneDX nor an SPDX JSON document"):
        scan_target(governed, AUDITOR, target=str(junk))
    with pytest.raises(BadInput, match="not a file, an oci-layout"):
        scan_target(governed, AUDITOR, target="UPPER CASE nonsense")
    with pytest.raises(BadInput, match="body: not a JSON SBOM"):
        scan_document(governed, AUDITOR, document="{", where="body")


class _Hook(http.server.BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


WEBHOOK_ENV = "HARBOURMASTER_VULN_WEBHOOK_URL"


def _configure_webhook(hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Set the variable, and give ``hm`` the notifier the composition root makes from it."""
    monkeypatch.setenv(WEBHOOK_ENV, url)
    hm.notifier = notifier_for(Settings.from_environ())


@pytest.fixture
def webhook(governed: Harbourmaster, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    _Hook.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _configure_webhook(governed, monkeypatch, f"http://127.0.0.1:{server.server_address[1]}/hook")
    try:
        yield _Hook.bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_correlation_finds_newly_affected_images_once(
    governed: Harbourmaster, tmp_path: Path, webhook: list[dict[str, Any]]
) -> None:
    stored = store_sbom(governed, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="test")
    unaffected = store_sbom(
        governed,
        sample(version="3.0.11-1~deb12u3").__class__(
            image=sample().image.__class__(
                name="harbor.corp/web/site:2", digest="sha256:" + "ef" * 32, platform=sample().image.platform
            ),
            packages=sample(version="3.0.11-1~deb12u3").packages[:1],
        ),
        fmt=SbomFormat.CYCLONEDX_JSON,
        actor="test",
    )
    first = _import(governed, tmp_path, ADVISORIES[:1], name="one")
    assert [(n.image_digest, sorted({a["id"] for a in n.advisories})) for n in first.newly_affected] == [
        (stored.image_digest, ["DSA-5532-1"])
    ]
    assert first.webhook == [f"{stored.image_digest}: HTTP 204"]
    assert webhook[0]["event"] == "image.newly-affected"
    assert webhook[0]["image_digest"] == stored.image_digest
    assert webhook[0]["advisories"][0]["purl"].startswith("pkg:deb/debian/libssl3@")
    with governed.store.read() as tx:
        targets = [e.target for e in tx.audit.entries() if e.action == "vuln.newly-affected"]
    assert targets == ["harbor.corp/payments/api:1"]
    assert unaffected.image_digest not in {n.image_digest for n in first.newly_affected}
    # The same advisory again, even modified later: the pair is known, nothing new.
    again = _import(governed, tmp_path, [dict(ADVISORIES[0], modified="2025-01-01T00:00:00Z")], name="two")
    assert again.updated == 1
    assert again.newly_affected == []
    # A new advisory for another package of the same image is news.
    third = _import(governed, tmp_path, ADVISORIES[2:], name="three")
    assert [sorted({a["id"] for a in n.advisories}) for n in third.newly_affected] == [
        ["GHSA-9wx4-h78v-vm56"]
    ]
    assert len(webhook) == 2
    listed = affected_since(governed, AUDITOR, since=parse_since("1h"))
    assert [i.image_digest for i in listed] == [stored.image_digest]
    assert {a["id"] for a in listed[0].advisories} == {"DSA-5532-1", "GHSA-9wx4-h78v-vm56"}
    assert affected_since(governed, AUDITOR, since=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)) == []


def test_a_failing_webhook_does_not_fail_the_import(
    governed: Harbourmaster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.components import free_port

    _configure_webhook(governed, monkeypatch, f"http://127.0.0.1:{free_port()}/nobody-listens")
    store_sbom(governed, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="test")
    result = _import(governed, tmp_path, ADVISORIES[:1])
    assert len(result.newly_affected) == 1
    assert "failed (ConnectError)" in result.webhook[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31", dt.datetime(2026, 1, 31, tzinfo=dt.UTC)),
        ("2026-01-31T12:00:00Z", dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)),
        ("24h", dt.datetime(2026, 5, 31, 12, tzinfo=dt.UTC)),
        ("2w", dt.datetime(2026, 5, 18, 12, tzinfo=dt.UTC)),
    ],
)
def test_parse_since(text: str, expected: dt.datetime) -> None:
    assert parse_since(text, now=dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)) == expected


def test_parse_since_refuses_garbage() -> None:
    with pytest.raises(BadInput, match="--since: 'yesterday'"):
        parse_since("yesterday")


# -- over HTTP, on SQLite and PostgreSQL ---------------------------------------------------------------
from tests.api.conftest import Api, api  # noqa: E402,F401 - the API fixture, reused here


def test_the_api_imports_scans_and_lists(api: Api) -> None:  # noqa: F811
    store_sbom(api.hm, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="test")
    admin, auditor = api.headers("admin"), api.headers("auditor")
    imported = api.client.post("/api/v1/vulndb/records", json={"records": ADVISORIES}, headers=admin)
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert (body["inserted"], body["skipped"]) == (4, 0)
    assert [n["image_name"] for n in body["newly_affected"]] == ["harbor.corp/payments/api:1"]
    status = api.client.get("/api/v1/vulndb/status", headers=auditor).json()
    assert status["per_ecosystem"] == {"Debian:11": 1, "Debian:12": 1, "PyPI": 2}
    document = render_sbom(sample(), SbomFormat.SPDX_JSON)
    scanned = api.client.post(
        "/api/v1/scans",
        json={"document": document, "environment": "staging-k8s", "image": "harbor.corp/web/api:1"},
        headers=auditor,
    )
    assert scanned.status_code == 200, scanned.text
    result = scanned.json()
    assert {f["id"] for f in result["findings"]} == {"DSA-5532-1", "GHSA-9wx4-h78v-vm56"}
    assert result["verdict"]["verdict"] == "block"
    sarif = api.client.post("/api/v1/scans", json={"document": document, "format": "sarif"}, headers=auditor)
    assert sarif.json()["version"] == "2.1.0"
    bad = api.client.post("/api/v1/scans", json={"document": '{"nope": 1}'}, headers=auditor)
    assert bad.status_code == 422
    assert "neither a CycloneDX nor an SPDX JSON document" in bad.json()["detail"]
    malformed = api.client.post(
        "/api/v1/vulndb/records", json={"records": [{"id": "X"}], "strict": True}, headers=admin
    )
    assert malformed.status_code == 422
    assert "modified: is required" in json.dumps(malformed.json())
    listed = api.client.get("/api/v1/vulns/affected", params={"since": "1h"}, headers=auditor).json()
    assert [i["image_name"] for i in listed] == ["harbor.corp/payments/api:1"]
