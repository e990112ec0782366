"""The assessment page: every key decision with its status in words, evidence, shortfalls and remedies;
the levels with their controls; the overall level; and the standalone HTML and JSON as downloads."""

from __future__ import annotations

import json
import re

import pytest
from markupsafe import escape

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.services.assessment import assessment
from tests.web.conftest import CANARIES, ROLE_USERS, Web

DECISIONS = [f"Ch5-D-0{n}" for n in range(1, 10)]
AUDITOR = Principal("auditor", Role.AUDITOR)


def _decision(html: str, decision: str) -> str:
    found = re.search(rf'<section class="decision" aria-labelledby="decision-{decision}">.*?</section>', html,
                      re.DOTALL)
    assert found is not None, decision
    return found.group(0)


def test_the_page_shows_every_decision_with_its_status_and_the_overall_level(web: Web) -> None:
    expected = assessment(web.hm, AUDITOR)
    web.sign_in("auditor")
    page = web.client.get("/ui/assessment")
    assert page.status_code == 200
    assert f"<h1>Maturity assessment: level {expected.level}</h1>" in page.text
    assert f"Overall level: {expected.level} of 4." in page.text
    assert [d.id for d in expected.decisions] == DECISIONS
    for d in expected.decisions:
        section = _decision(page.text, d.id)
        assert f"{d.id}: " in section
        assert f">{d.status}</span></h3>" in section  # the status in words
        assert section.count('<pre class="block"><code>') == len(d.remedies)
        for line in (*d.evidence, *d.shortfalls):
            assert f"<li>{escape(line)}</li>" in section
        if not d.evidence:
            assert "Nothing to judge." in section
    for level in expected.levels:
        assert f"{level.number}: {level.summary}" in page.text
        for control in level.controls:
            assert f"{control.id}: " in page.text


def test_a_decision_not_met_shows_its_shortfalls(web: Web) -> None:
    expected = assessment(web.hm, AUDITOR)
    short = [d for d in expected.decisions if d.shortfalls]
    assert short, "the example model meets every decision: nothing to show"
    web.sign_in("payments-dev")
    page = web.client.get("/ui/assessment").text
    section = _decision(page, short[0].id)
    assert "<h4>Shortfalls</h4>" in section
    assert short[0].status in ("not met", "partly met")


def test_the_reports_download_as_standalone_html_and_json(web: Web) -> None:
    web.sign_in("platform")
    page = web.client.get("/ui/assessment").text
    assert 'href="/ui/assessment/report.html" download' in page
    assert 'href="/ui/assessment/report.json" download' in page
    html = web.client.get("/ui/assessment/report.html")
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert html.headers["content-disposition"] == 'attachment; filename="harbourmaster-assessment.html"'
    assert html.text.startswith("<!DOCTYPE html>") and "Maturity assessment: level" in html.text
    body = web.client.get("/ui/assessment/report.json")
    assert body.headers["content-disposition"] == 'attachment; filename="harbourmaster-assessment.json"'
    report = json.loads(body.text)
    expected = assessment(web.hm, AUDITOR)
    assert report["level"] == expected.level
    assert [d["id"] for d in report["decisions"]] == DECISIONS
    assert [(d["id"], d["status"]) for d in report["decisions"]] == [
        (d.id, d.status) for d in expected.decisions]


def test_attested_egress_is_passed_on_and_kept_in_the_downloads(web: Web) -> None:
    web.sign_in("admin")
    page = web.client.get("/ui/assessment", params={"egress_restricted": "prod-eu"}).text
    assert 'value="prod-eu" checked' in page
    assert 'href="/ui/assessment/report.json?egress_restricted=prod-eu"' in page
    attested = json.loads(web.client.get("/ui/assessment/report.json?egress_restricted=prod-eu").text)
    expected = assessment(web.hm, AUDITOR, egress_restricted=["prod-eu"])
    assert attested == json.loads(expected.model_dump_json()) | {"assessed_at": attested["assessed_at"]}
    missing = web.client.get("/ui/assessment", params={"egress_restricted": "nowhere"})
    assert missing.status_code == 404 and "nowhere" in missing.text


@pytest.mark.parametrize("user", ROLE_USERS.values())
def test_every_role_sees_the_assessment_and_no_secret(web: Web, user: str) -> None:
    web.sign_in(user)
    assert 'href="/ui/assessment"' in web.client.get("/ui/").text
    for path in ("/ui/assessment", "/ui/assessment/report.html", "/ui/assessment/report.json"):
        answer = web.client.get(path)
        assert answer.status_code == 200, path
        for canary in CANARIES.values():
            assert canary not in answer.text


def test_the_assessment_needs_a_signed_in_viewer(web: Web) -> None:
    for path in ("/ui/assessment", "/ui/assessment/report.html", "/ui/assessment/report.json"):
        answer = web.client.get(path)
        assert answer.status_code == 401 and "Ch5-D-01" not in answer.text


def test_long_evidence_is_cut_on_the_page_and_whole_in_the_downloads(
    web: Web, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harbourmaster.web.assessment as page_module

    monkeypatch.setattr(page_module, "SHOWN_LINES", 1)
    expected = assessment(web.hm, AUDITOR)
    long = next(d for d in expected.decisions if len(d.evidence) > 1)
    web.sign_in("auditor")
    section = _decision(web.client.get("/ui/assessment").text, long.id)
    evidence = section.split("<h4>Evidence</h4>", 1)[1]
    assert str(escape(long.evidence[0])) in evidence
    assert str(escape(long.evidence[1])) not in evidence
    assert f"and {len(long.evidence) - 1} more" in evidence and "/ui/assessment/report.html" in evidence
    report = web.client.get("/ui/assessment/report.html").text
    assert all(str(escape(line)) in report for line in long.evidence)
