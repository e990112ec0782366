"""Signing in with an API token, the session cookie, and the session ending with its token."""

from __future__ import annotations

import base64
import datetime as dt
import json

from harbourmaster.services.tokens import issue_node_token, revoke_token
from harbourmaster.web.sessions import COOKIE, CSRF_FIELD, SESSION_SECONDS
from tests.fakes.clock import FixedClock
from tests.services.unit._example import ADMIN
from tests.web.conftest import Web, audit_actions, csrf_of


def _cookie_payload(value: str) -> dict[str, object]:
    """The signed (not encrypted) session's payload, as anyone holding the cookie could read it."""
    data = value.split(".")[0]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    return decoded


def test_a_valid_token_signs_in_and_opens_the_pages(web: Web) -> None:
    answer = web.sign_in("platform")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/"
    page = web.client.get("/ui/")
    assert page.status_code == 200
    assert "Signed in as <strong>platform</strong> (platform-engineer)" in page.text


def test_an_unknown_token_is_refused_with_the_sign_in_form(web: Web) -> None:
    form = web.client.get("/ui/sign-in")
    answer = web.client.post("/ui/sign-in", data={CSRF_FIELD: csrf_of(form.text), "token": "hm_not-a-token"})
    assert answer.status_code == 401
    assert "invalid bearer token" in answer.text
    assert 'name="token"' in answer.text  # the form again
    assert web.client.get("/ui/registries").status_code == 401


def test_a_revoked_token_cannot_sign_in(web: Web) -> None:
    token = web.issue("admin")
    revoke_token(web.hm, ADMIN, token_id=web.token_ids["admin"])
    form = web.client.get("/ui/sign-in")
    answer = web.client.post("/ui/sign-in", data={CSRF_FIELD: csrf_of(form.text), "token": token})
    assert answer.status_code == 401
    assert "revoked" in answer.text
    assert web.client.get("/ui/").status_code == 401


def test_revoking_the_token_ends_the_session(web: Web) -> None:
    web.sign_in("auditor")
    assert web.client.get("/ui/environments").status_code == 200
    revoke_token(web.hm, ADMIN, token_id=web.token_ids["auditor"])
    ended = web.client.get("/ui/environments")
    assert ended.status_code == 401
    assert "its API token was revoked" in ended.text
    # The session is replaced by one that names no token.
    assert _cookie_payload(web.client.cookies[COOKIE])["t"] is None
    assert ("token.use", f"token {web.token_ids['auditor']}", "refused") in audit_actions(web.hm)


def test_an_expired_token_ends_the_session(web: Web, clock: FixedClock) -> None:
    web.sign_in("payments-dev")
    clock.advance(dt.timedelta(days=91))  # tokens live 90 days by default
    ended = web.client.get("/ui/")
    assert ended.status_code == 401
    assert "expired" in ended.text


def test_the_session_cookie_is_httponly_strict_and_expires(web: Web) -> None:
    answer = web.sign_in("admin")
    cookie = answer.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert cookie.startswith(f"{COOKIE}=")
    assert {"httponly", "max-age", "path", "samesite"} <= attributes
    assert "samesite=strict" in cookie.lower()
    assert f"max-age={SESSION_SECONDS}" in cookie.lower()
    assert "path=/ui" in cookie.lower()
    assert "secure" not in attributes  # plain HTTP here: a Secure cookie would never come back


def test_the_session_cookie_is_secure_over_https(web: Web) -> None:
    web.client.base_url = web.client.base_url.copy_with(scheme="https")
    answer = web.sign_in("admin")
    assert "secure" in {part.strip().lower() for part in answer.headers["set-cookie"].split(";")}


def test_the_session_holds_the_token_id_never_the_token(web: Web) -> None:
    answer = web.sign_in("admin")
    value = web.client.cookies[COOKIE]
    token = web.tokens["admin"]
    assert token not in answer.headers["set-cookie"]
    payload = _cookie_payload(value)
    assert payload["t"] == web.token_ids["admin"]
    assert set(payload) == {"c", "t"}
    assert token not in json.dumps(payload)


def test_a_forged_session_is_not_signed_in(web: Web) -> None:
    web.sign_in("admin")
    value = web.client.cookies[COOKIE]
    data, rest = value.split(".", 1)
    payload = _cookie_payload(value)
    payload["t"] = payload["t"] + 1  # type: ignore[operator]
    encoded = json.dumps(payload, separators=(",", ":")).encode()
    forged = base64.urlsafe_b64encode(encoded).decode().rstrip("=")
    web.client.cookies.set(COOKIE, f"{forged}.{rest}", path="/ui")
    assert forged != data
    assert web.client.get("/ui/").status_code == 401


def test_a_node_token_cannot_sign_in(web: Web) -> None:
    issued = issue_node_token(web.hm, ADMIN, node="node-1", environment="staging-k8s")
    form = web.client.get("/ui/sign-in")
    answer = web.client.post("/ui/sign-in", data={CSRF_FIELD: csrf_of(form.text),
                                                  "token": issued.token.reveal()})
    assert answer.status_code == 403
    assert "node token cannot sign in" in answer.text


def test_signing_out_ends_the_session(web: Web) -> None:
    web.sign_in("admin")
    answer = web.client.post("/ui/sign-out", data={CSRF_FIELD: web.csrf()}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/sign-in"
    assert _cookie_payload(web.client.cookies[COOKIE])["t"] is None
    assert web.client.get("/ui/").status_code == 401


def test_signing_in_changes_the_csrf_token(web: Web) -> None:
    before = csrf_of(web.client.get("/ui/sign-in").text)
    web.sign_in("admin")
    assert web.csrf() != before


def test_after_sign_in_the_page_asked_for_is_shown_but_never_another_site(web: Web) -> None:
    token = web.issue("admin")
    asked = web.client.get("/ui/environments")
    assert asked.status_code == 401
    assert 'name="next" value="/ui/environments"' in asked.text
    answer = web.client.post("/ui/sign-in", data={CSRF_FIELD: csrf_of(asked.text), "token": token,
                                                  "next": "/ui/environments"}, follow_redirects=False)
    assert answer.headers["location"] == "/ui/environments"
    for elsewhere in ("//evil.example/ui/", "https://evil.example/", "/api/v1/tokens", "/ui\\@evil"):
        web.client.cookies.clear()
        form = web.client.get("/ui/sign-in")
        answer = web.client.post("/ui/sign-in", data={CSRF_FIELD: csrf_of(form.text), "token": token,
                                                      "next": elsewhere}, follow_redirects=False)
        assert answer.headers["location"] == "/ui/", elsewhere


def test_every_page_view_is_audited_as_a_use_of_the_token(web: Web) -> None:
    web.sign_in("auditor")
    before = audit_actions(web.hm).count(("token.use", f"token {web.token_ids['auditor']}", "ok"))
    web.client.get("/ui/registries")
    after = audit_actions(web.hm).count(("token.use", f"token {web.token_ids['auditor']}", "ok"))
    assert after == before + 1
