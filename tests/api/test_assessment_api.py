"""``GET /api/v1/assessment``: the CLI's JSON model, or the standalone HTML report with ``?format=html``."""

from __future__ import annotations

import re

from harbourmaster.services.assessment_results import AssessmentPublic
from tests.api.conftest import Api

P = "/api/v1"


def test_json_is_the_report_model(api: Api) -> None:
    response = api.client.get(f"{P}/assessment", headers=api.headers("payments-dev"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    report = AssessmentPublic.model_validate(response.json())
    assert report.level == 1
    statuses = {d.id: d.status for d in report.decisions}
    assert statuses == {
        "Ch5-D-01": "not met",
        "Ch5-D-02": "partly met",
        "Ch5-D-03": "not met",
        "Ch5-D-04": "not met",
        "Ch5-D-05": "met",
        "Ch5-D-06": "not met",
        "Ch5-D-07": "not met",
        "Ch5-D-08": "partly met",
        "Ch5-D-09": "not met",
    }
    assert report.layers == []  # the API asks no webhook or gate


def test_egress_attested_by_query(api: Api) -> None:
    response = api.client.get(
        f"{P}/assessment",
        params={"egress_restricted": ["prod-eu", "staging-k8s"]},
        headers=api.headers("admin"),
    )
    assert response.status_code == 200
    d06 = next(d for d in response.json()["decisions"] if d["id"] == "Ch5-D-06")
    assert d06["status"] == "met"
    unknown = api.client.get(
        f"{P}/assessment", params={"egress_restricted": "prod-us"}, headers=api.headers("admin")
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")


def test_html_stands_alone(api: Api) -> None:
    response = api.client.get(f"{P}/assessment", params={"format": "html"}, headers=api.headers("auditor"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert html.startswith("<!DOCTYPE html>") and "Maturity assessment: level 1" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert "<script" not in html.lower()


def test_unknown_format_and_no_token(api: Api) -> None:
    bad = api.client.get(f"{P}/assessment", params={"format": "pdf"}, headers=api.headers("admin"))
    assert bad.status_code == 422
    assert api.client.get(f"{P}/assessment").status_code == 401
