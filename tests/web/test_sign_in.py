"""Signing in with an API token, the session cookie, and the session ending with its token."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
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
    # The session is replaced by one that names no session, and the old one is ended in the store.
    assert _cookie_payload(web.client.cookies[COOKIE])["s"] is None
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


def _stored(web: Web, sid: object):  # type: ignore[no-untyped-def]
    with web.hm.store.read() as tx:
        return tx.web_sessions.get(hashlib.sha256(str(sid).encode()).hexdigest())


def test_the_cookie_holds_a_session_id_the_store_knows_only_by_its_hash(web: Web) -> None:
    answer = web.sign_in("admin")
    value = web.client.cookies[COOKIE]
    token = web.tokens["admin"]
    assert token not in answer.headers["set-cookie"]
    payload = _cookie_payload(value)
    assert set(payload) == {"c", "s"}
    assert token not in json.dumps(payload) and "admin" not in json.dumps(payload)
    stored = _stored(web, payload["s"])
    assert stored is not None and stored.id_hash != payload["s"]
    assert (stored.user, stored.token_id, stored.method, stored.ended_at) == (
        "admin", web.token_ids["admin"], "token", None)
    with web.hm.store.read() as tx:
        assert tx.web_sessions.get(str(payload["s"])) is None  # the id itself is no key


def test_a_forged_session_is_not_signed_in(web: Web) -> None:
    web.sign_in("admin")
    value = web.client.cookies[COOKIE]
    data, rest = value.split(".", 1)
    payload = _cookie_payload(value)
    payload["s"] = str(payload["s"])[:-1] + ("A" if str(payload["s"])[-1] != "A" else "B")
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


def test_signing_out_ends_the_session_even_for_a_copy_of_its_cookie(web: Web) -> None:
    web.sign_in("admin")
    copied = web.client.cookies[COOKIE]
    sid = _cookie_payload(copied)["s"]
    answer = web.client.post("/ui/sign-out", data={CSRF_FIELD: web.csrf()}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/sign-in"
    assert _cookie_payload(web.client.cookies[COOKIE])["s"] is None
    assert web.client.get("/ui/").status_code == 401
    # Whoever kept the signed-in cookie (a stolen copy, a shared machine) is signed out too.
    web.client.cookies.set(COOKIE, copied, path="/ui")
    replayed = web.client.get("/ui/")
    assert replayed.status_code == 401 and "signed out" in replayed.text
    stored = _stored(web, sid)
    assert stored is not None and stored.ended_reason == "signed out"
    assert ("web.sign-out", "user admin", "ok") in audit_actions(web.hm)


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


def test_forms_are_audited_as_uses_of_the_token_and_page_views_are_not(web: Web) -> None:
    web.sign_in("platform")
    use = ("token.use", f"token {web.token_ids['platform']}", "ok")
    before = audit_actions(web.hm).count(use)
    for _ in range(5):
        assert web.client.get("/ui/registries").status_code == 200
    assert audit_actions(web.hm).count(use) == before
    web.client.post("/ui/registries/harbor-payments/test", data={CSRF_FIELD: web.csrf()})
    assert audit_actions(web.hm).count(use) == before + 1
    with web.hm.store.read() as tx:
        last = [e for e in tx.audit.entries() if e.action == "token.use"][-1]
    assert last.details["route"] == "/ui/registries/{name}/test" and last.details["session"] == "web"


def test_a_session_ends_after_an_hour_unused_and_after_eight_hours(web: Web, clock: FixedClock) -> None:
    web.sign_in("auditor")
    for _ in range(8):  # used every 55 minutes: it lives, up to 7 h 20 min after sign-in
        clock.advance(dt.timedelta(minutes=55))
        assert web.client.get("/ui/").status_code == 200
    clock.advance(dt.timedelta(minutes=55))  # 8 h 15 min after sign-in
    ended = web.client.get("/ui/")
    assert ended.status_code == 401 and "expired" in ended.text
    web.sign_in("auditor")
    clock.advance(dt.timedelta(minutes=61))
    idle = web.client.get("/ui/")
    assert idle.status_code == 401 and "without use" in idle.text


def test_page_views_write_the_last_use_at_most_once_a_minute(web: Web, clock: FixedClock) -> None:
    web.sign_in("auditor")
    sid = _cookie_payload(web.client.cookies[COOKIE])["s"]
    signed_in = clock.now()
    clock.advance(dt.timedelta(seconds=30))
    web.client.get("/ui/")
    assert _stored(web, sid).last_seen_at == signed_in
    clock.advance(dt.timedelta(seconds=31))
    web.client.get("/ui/")
    assert _stored(web, sid).last_seen_at == clock.now()
