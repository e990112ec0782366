"""Issue 8 over the API: bounded durations, token lifetimes, listing, revocation, audited use."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from harbourmaster.store.models import AuditRow
from tests.api.conftest import Api
from tests.api.test_authz import assert_problem

P = "/api/v1"
HUGE = "99999999999999999999d"


def _token_uses(api: Api, token_id: int) -> list[tuple[str, str, dict[str, Any]]]:
    with api.hm.db.read() as session:
        rows = session.scalars(
            select(AuditRow).where(AuditRow.action == "token.use").order_by(AuditRow.seq)
        )
        return [(r.actor, r.result, dict(r.details)) for r in rows if r.details["token_id"] == token_id]


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/credentials/expiring", {"within": HUGE}, "within"),
        ("/credentials/expiring", {"within": "36501d"}, "within"),
        ("/credentials/expiring", {"within": "²d"}, "within"),
        ("/vulns/affected", {"since": HUGE}, "--since"),
    ],
)
def test_out_of_range_durations_are_422_problems_not_500(
    api: Api, path: str, params: dict[str, str], field: str
) -> None:
    response = api.client.get(f"{P}{path}", params=params, headers=api.headers("admin"))
    body = assert_problem(response, 422)
    assert body["detail"].startswith(f"{field}: ")
    assert "maximum is 36500 days (100 years)" in body["detail"] or "not a duration" in body["detail"]


def test_the_longest_window_still_works(api: Api) -> None:
    response = api.client.get(
        f"{P}/credentials/expiring", params={"within": "36500d"}, headers=api.headers("admin")
    )
    assert response.status_code == 200, response.text
    assert {r["registry"] for r in response.json()} >= {"harbor-payments", "harbor-web"}


@pytest.mark.parametrize("days", [0, -1, 3651, 999999999, 10**30])
def test_token_lifetime_out_of_range_is_422(api: Api, days: int) -> None:
    response = api.client.post(
        f"{P}/tokens", json={"user": "web-dev", "expires_in_days": days}, headers=api.headers("admin")
    )
    body = assert_problem(response, 422)
    assert any(e.startswith("expires_in_days: ") for e in body["errors"]), body


def test_tokens_expire_after_90_days_by_default_and_at_most_10_years(api: Api) -> None:
    now = dt.datetime.now(dt.UTC)
    default = api.client.post(f"{P}/tokens", json={"user": "web-dev"}, headers=api.headers("admin"))
    assert default.status_code == 201, default.text
    expires = dt.datetime.fromisoformat(default.json()["expires_at"])
    assert dt.timedelta(days=90) - dt.timedelta(minutes=1) < expires - now <= dt.timedelta(days=90, minutes=1)
    longest = api.client.post(
        f"{P}/tokens", json={"user": "web-dev", "expires_in_days": 3650}, headers=api.headers("admin")
    )
    assert longest.status_code == 201, longest.text
    listed = {t["id"]: t for t in api.client.get(f"{P}/tokens", headers=api.headers("admin")).json()}
    assert all(t["expires_at"] is not None for t in listed.values())


def test_list_shows_metadata_never_the_token_or_its_hash(api: Api) -> None:
    issued = api.client.post(
        f"{P}/tokens", json={"user": "web-dev", "name": "ci"}, headers=api.headers("admin")
    ).json()
    token, token_id = issued["token"], issued["id"]
    response = api.client.get(f"{P}/tokens", headers=api.headers("admin"))
    assert response.status_code == 200, response.text
    (row,) = [t for t in response.json() if t["id"] == token_id]
    assert set(row) == {
        "id", "user", "name", "created_at", "expires_at", "revoked", "expired", "last_used_at",
        "node", "environment",
    }
    assert row["node"] is None and row["environment"] is None
    assert (row["user"], row["name"], row["revoked"], row["expired"], row["last_used_at"]) == (
        "web-dev", "ci", False, False, None
    )
    assert token not in response.text and token[3:] not in response.text
    with api.hm.db.read() as session:
        from harbourmaster.store.models import ApiTokenRow

        digest = session.scalar(select(ApiTokenRow.token_hash).where(ApiTokenRow.id == token_id))
    assert digest is not None and digest not in response.text
    expired = [t for t in response.json() if t["name"] == "old"]
    assert [(t["expired"], t["revoked"]) for t in expired] == [(True, False)]

    assert api.client.get(f"{P}/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    used = api.client.get(f"{P}/tokens", params={"user": "web-dev"}, headers=api.headers("admin")).json()
    assert [t["id"] for t in used] == [token_id]
    last_used = dt.datetime.fromisoformat(used[0]["last_used_at"])
    assert abs(last_used - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_every_use_is_audited_by_token_id_with_method_and_route(api: Api) -> None:
    issued = api.client.post(f"{P}/tokens", json={"user": "platform"}, headers=api.headers("admin")).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert api.client.get(f"{P}/registries/harbor-web", headers=headers).status_code == 200
    uses = _token_uses(api, issued["id"])
    # Once per request, naming the token, its user, the method and the route template
    # (never the raw path with its user-chosen names).
    assert uses == [
        (
            "platform",
            "ok",
            {
                "token_id": issued["id"],
                "user": "platform",
                "name": "api",
                "method": "GET",
                "route": f"{P}/registries/{{name}}",
            },
        )
    ]
    assert api.client.post(
        f"{P}/decisions",
        json={"environment": "prod-eu", "namespace": "web", "images": ["harbor.corp/web/app:1"]},
        headers=headers,
    ).status_code == 200
    assert [(d["method"], d["route"]) for _, _, d in _token_uses(api, issued["id"])][1:] == [
        ("POST", f"{P}/decisions")
    ]


def test_revoked_tokens_are_refused_and_the_refusal_is_audited(api: Api) -> None:
    issued = api.client.post(f"{P}/tokens", json={"user": "auditor"}, headers=api.headers("admin")).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    assert api.client.get(f"{P}/me", headers=headers).status_code == 200

    revoked = api.client.delete(f"{P}/tokens/{issued['id']}", headers=api.headers("admin"))
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked"] is True and "token" not in revoked.json()
    again = api.client.delete(f"{P}/tokens/{issued['id']}", headers=api.headers("admin"))
    assert again.status_code == 200 and again.json()["revoked"] is True  # idempotent

    refused = api.client.get(f"{P}/me", headers=headers)
    body = assert_problem(refused, 401)
    assert "revoked" in body["detail"] and issued["token"] not in refused.text
    actor, result, details = _token_uses(api, issued["id"])[-1]
    assert (actor, result, details["reason"]) == ("auditor", "refused", "revoked")
    with api.hm.db.read() as session:
        revocations = [
            (r.actor, r.target)
            for r in session.scalars(select(AuditRow).where(AuditRow.action == "token.revoke"))
        ]
    assert revocations == [("admin", f"token {issued['id']}")]


@pytest.mark.parametrize(
    ("token_id", "status"), [("999", 404), ("0", 422), ("abc", 422), ("99999999999999999999999", 422)]
)
def test_revoking_an_unknown_or_malformed_id(api: Api, token_id: str, status: int) -> None:
    response = api.client.delete(f"{P}/tokens/{token_id}", headers=api.headers("admin"))
    assert_problem(response, status)
