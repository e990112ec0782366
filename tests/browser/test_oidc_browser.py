"""Signing in to the web UI with OpenID Connect in Debian's Chromium: a real ``harbourmaster serve`` on
SQLite, configured with the local stand-in OpenID provider (tests/web/oidc_standin.py, in a thread) as its
issuer; the browser follows every hop itself (UI -> issuer's authorization endpoint -> UI callback).

The issuer is named ``http://localhost:PORT`` and the UI is ``http://127.0.0.1:PORT``: two sites, as in a
real deployment, so the cookies' SameSite attributes are exercised as they would be
(see tests/browser/_oidc_stack.py).

The tests share one server, one stand-in and one browser; each signs in from a fresh browser context
and resets the stand-in's knobs, so each stands on its own.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from harbourmaster.web.oidc import OIDC_CALLBACK, PENDING_COOKIE
from harbourmaster.web.sessions import COOKIE
from tests.browser._oidc_stack import CLIENT_ID, CLIENT_SECRET, OidcStack, oidc_stack, session_payload
from tests.browser.conftest import Traffic, shot_name

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Response

pytestmark = pytest.mark.integration

#: The main navigation each role sees, in order (what the role's permissions allow, written out).
NAVIGATION = {
    "platform-engineer": ["Overview", "Registries", "Environments", "Jobs", "Assessment", "Decisions",
                          "Vulnerabilities"],
    "team-member": ["Overview", "Registries", "Environments", "Jobs", "Assessment", "Decisions",
                    "Vulnerabilities"],
    "auditor": ["Overview", "Registries", "Environments", "Jobs", "Audit", "Assessment", "Vulnerabilities"],
}
#: Pages each role may not use, asked for by URL: (path, the permission the refusal names).
FORBIDDEN = {
    "platform-engineer": [("/ui/audit", "audit.read")],
    "team-member": [("/ui/audit", "audit.read"), ("/ui/registries/new", "governance.write")],
    "auditor": [("/ui/decisions", "decision.check")],
}


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcStack]:
    with oidc_stack(tmp_path_factory.mktemp("oidc-stack")) as stack:
        yield stack
    # Stopped: the server's process is gone and the stand-in no longer answers.
    with pytest.raises(ProcessLookupError):
        os.kill(stack.pid, 0)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{stack.standin.issuer}/.well-known/openid-configuration", timeout=2)


@pytest.fixture(autouse=True)
def _defaults(oidc: OidcStack) -> Iterator[None]:
    oidc.standin.reset()
    yield
    oidc.standin.reset()


@dataclass
class Seen:
    """What one browser context saw: every response (url, status), and each page's text after a load."""

    responses: list[tuple[str, int]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    #: Every response's headers, Set-Cookie included (``Traffic`` keeps ``Response.headers``, which
    #: Playwright gives without the cookie headers).
    headers: list[str] = field(default_factory=list)

    def on_response(self, response: Response) -> None:
        self.responses.append((response.url, response.status))
        self.headers.append("\n".join(f"{k}: {v}" for k, v in response.all_headers().items()))

    def server_errors(self) -> list[tuple[str, int]]:
        return [(url, status) for url, status in self.responses if status >= 500]


@pytest.fixture(scope="module")
def seen() -> list[Seen]:
    return []


@pytest.fixture(scope="module")
def fresh(browser: Browser, traffic: Traffic, seen: list[Seen]) -> Iterator[Callable[[], tuple[Page, Seen]]]:
    """A new browser context (no cookies) and its page; every response body goes to ``traffic``."""
    made: list[BrowserContext] = []

    def make() -> tuple[Page, Seen]:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        record = Seen()
        context.on("response", traffic.on_response)
        context.on("response", record.on_response)
        made.append(context)
        seen.append(record)
        return context.new_page(), record

    yield make
    for context in made:
        context.close()


# -- helpers --------------------------------------------------------------------------------------


def text_of(page: Page, record: Seen) -> str:
    """The page's whole text (and its markup), kept for the canary check."""
    page.wait_for_load_state()
    content = page.content()
    record.texts.append(content)
    record.texts.append(page.locator("body").inner_text())
    return page.locator("body").inner_text()


def header(page: Page) -> str:
    return page.locator("header").inner_text()


def start_oidc(page: Page, record: Seen, oidc: OidcStack, path: str = "/ui") -> Response:
    """Ask for ``path`` signed out, choose "Sign in with <issuer>" on the sign-in form the UI answers,
    and follow the hops: the answer of the UI's callback (the issuer's redirect back)."""
    asked = page.goto(oidc.url(path))
    assert asked is not None and asked.status == 401, "a page asked for signed out answers the sign-in form"
    text_of(page, record)
    option = page.get_by_role("link", name=f"Sign in with {oidc.standin.issuer}")
    assert option.count() == 1, "the sign-in form offers no OpenID Connect sign-in with the issuer"
    assert page.get_by_label("API token").count() == 1  # the token form stays
    with page.expect_response(lambda r: r.url.startswith(oidc.url(OIDC_CALLBACK))) as callback:
        option.click()
    answer = callback.value
    # The browser went through the issuer's authorization endpoint and was sent back by it.
    hops = [url for url, _ in record.responses]
    authorize = [url for url in hops if url.startswith(f"{oidc.standin.issuer}/authorize?")]
    assert authorize, f"the browser never reached the issuer's authorization endpoint: {hops}"
    assert (authorize[-1], 302) in record.responses
    return answer


def signed_out(page: Page, oidc: OidcStack) -> None:
    """No session: the cookie (if any) names no one, and the overview asks for a sign-in."""
    for cookie in page.context.cookies():
        if cookie["name"] == COOKIE:
            payload = session_payload(cookie["value"])
            assert payload.get("s") is None, payload
    again = page.goto(oidc.url("/ui/"))
    assert again is not None and again.status == 401
    assert "Signed in as" not in header(page)


def sign_ins_since(oidc: OidcStack, start: datetime) -> list[dict[str, object]]:
    """The ``web.sign-in`` audit records written at ``start`` or later."""
    return [r for r in oidc.sign_ins()
            if datetime.fromisoformat(str(r["time"]).replace("Z", "+00:00")) >= start]


# -- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("user", "role", "start", "lands"), [
    ("platform", "platform-engineer", "/ui", "/ui/"),
    ("dev", "team-member", "/ui/environments", "/ui/environments"),
    ("auditor", "auditor", "/ui/audit", "/ui/audit"),
])
def test_sign_in_through_the_issuer_as_the_models_user(
    oidc: OidcStack, fresh: Callable[[], tuple[Page, Seen]], shots: Path,
    user: str, role: str, start: str, lands: str,
) -> None:
    oidc.standin.user = user
    audited = datetime.now(UTC)
    page, record = fresh()
    callback = start_oidc(page, record, oidc, start)
    assert callback.status == 200, callback.text()
    page.wait_for_url(oidc.url(lands))  # the callback's page moves on to the page first asked for
    landed = text_of(page, record)

    # Signed in as the issuer's user, with the role the governance model gives it.
    assert f"Signed in as {user} ({role})" in header(page)
    assert "Sign in" not in page.locator("main h1").inner_text()
    nav = page.get_by_role("navigation", name="Main").get_by_role("link").all_inner_texts()
    assert [n.strip() for n in nav] == NAVIGATION[role], f"{role} sees {nav}"
    if user == "platform":
        assert "Registries" in nav and "Audit" not in nav
        page.screenshot(path=shots / shot_name("oidc-platform-engineer", "/ui/", 1280), full_page=True)
        assert (shots / shot_name("oidc-platform-engineer", "/ui/", 1280)).stat().st_size > 0
    assert landed.strip()

    # The session carries over to the role's other pages ...
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Environments").click()
    page.wait_for_url(oidc.url("/ui/environments"))
    assert f"Signed in as {user} ({role})" in header(page)
    text_of(page, record)
    # ... and a page the role may not use, forced by URL, is refused (still signed in).
    for path, permission in FORBIDDEN[role]:
        forced = page.goto(oidc.url(path))
        assert forced is not None and forced.status == 403, f"{role} on {path}: {forced and forced.status}"
        refusal = page.get_by_role("alert").inner_text()
        assert permission in refusal and role in refusal, refusal
        assert f"Signed in as {user} ({role})" in header(page)
        text_of(page, record)

    # The session cookie: HttpOnly, SameSite=Strict, for the UI only; it holds a server-side session's
    # id and a CSRF token: no user, no role, no token.
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies[COOKIE]
    assert session["httpOnly"] is True and session["sameSite"] == "Strict" and session["path"] == "/ui"
    payload = session_payload(session["value"])
    assert set(payload) == {"c", "s"} and isinstance(payload["s"], str) and user not in json.dumps(payload)
    assert PENDING_COOKIE not in cookies  # the pending sign-in was used up
    assert page.evaluate("document.cookie") == ""  # nothing readable by script

    # What the browser brought to the issuer: this client, PKCE S256, a state and a nonce.
    sent = oidc.standin.authorize_log[-1]
    assert sent.client_id == CLIENT_ID and sent.code_challenge_method == "S256" and sent.code_challenge
    assert sent.redirect_uri == oidc.url(OIDC_CALLBACK)
    assert sent.has_state and sent.has_nonce and "openid" in sent.scope.split()
    assert record.server_errors() == []
    [audit] = sign_ins_since(oidc, audited)
    assert (audit["actor"], audit["target"], audit["result"]) == (user, f"user {user}", "ok")


def test_the_issuer_saw_pkce_s256_and_the_client_secret(
    oidc: OidcStack, fresh: Callable[[], tuple[Page, Seen]],
) -> None:
    before = len(oidc.standin.token_log)
    challenges = {seen.code_challenge for seen in oidc.standin.authorize_log}
    page, record = fresh()
    assert start_oidc(page, record, oidc).status == 200
    page.wait_for_url(oidc.url("/ui/"))
    [exchange] = oidc.standin.token_log[before:]
    assert exchange.auth_method == "client_secret_basic"  # what the discovery document announces
    assert exchange.secret_matches, "the token endpoint was not sent the configured client secret"
    assert exchange.challenge_method == "S256"
    assert exchange.verifier_sent and exchange.verifier_matches_s256
    assert exchange.outcome == "ok"
    # A fresh challenge for every sign-in.
    assert oidc.standin.authorize_log[-1].code_challenge not in challenges
    # Every exchange of the module so far authenticated with the secret and proved PKCE S256.
    for seen in oidc.standin.token_log:
        assert seen.secret_matches and seen.challenge_method == "S256" and seen.verifier_matches_s256, seen


def test_a_tampered_id_token_leaves_the_browser_signed_out(
    oidc: OidcStack, fresh: Callable[[], tuple[Page, Seen]], shots: Path,
) -> None:
    oidc.standin.tamper = True  # the payload says "admin", under the platform engineer's signature
    audited = datetime.now(UTC)
    page, record = fresh()
    callback = start_oidc(page, record, oidc)
    assert callback.status == 401
    text = text_of(page, record)
    assert page.url.startswith(oidc.url(OIDC_CALLBACK))  # no move on to a signed-in page
    assert page.locator("main h1").inner_text().strip() == "Sign-in failed"
    alert = page.get_by_role("alert").inner_text()
    assert "ID token" in alert and "signature does not verify" in alert, alert
    assert "Traceback" not in text and "admin" not in header(page)
    assert oidc.standin.token_log[-1].outcome == "ok"  # the code was exchanged: the token was refused
    page.screenshot(path=shots / shot_name("oidc-tampered", OIDC_CALLBACK, 1280), full_page=True)
    signed_out(page, oidc)
    assert record.server_errors() == [], "the server answered a 5xx"
    [audit] = sign_ins_since(oidc, audited)
    assert (audit["actor"], audit["result"]) == ("anonymous", "refused")
    assert "signature" in str(audit["details"])


def test_a_user_the_model_does_not_know_is_refused(
    oidc: OidcStack, fresh: Callable[[], tuple[Page, Seen]],
) -> None:
    oidc.standin.user = "ghost"
    audited = datetime.now(UTC)
    page, record = fresh()
    callback = start_oidc(page, record, oidc)
    assert callback.status == 403
    text_of(page, record)
    alert = page.get_by_role("alert").inner_text()
    assert "no user ghost is defined in the governance model" in alert, alert
    assert "Signed in as" not in header(page)
    assert PENDING_COOKIE not in {c["name"] for c in page.context.cookies()}
    signed_out(page, oidc)
    assert record.server_errors() == []
    [audit] = sign_ins_since(oidc, audited)
    assert (audit["actor"], audit["result"]) == ("ghost", "refused")
    details = audit["details"]
    assert isinstance(details, dict) and details["reason"] == "no such user", details


def test_neither_the_client_secret_nor_an_id_token_reached_the_browser(
    oidc: OidcStack, fresh: Callable[[], tuple[Page, Seen]], traffic: Traffic, seen: list[Seen],
) -> None:
    # One sign-in and one refusal of its own, so the check stands when this test runs alone.
    page, record = fresh()
    assert start_oidc(page, record, oidc).status == 200
    page.wait_for_url(oidc.url("/ui/"))
    text_of(page, record)
    oidc.standin.tamper = True
    page, record = fresh()
    assert start_oidc(page, record, oidc).status == 401
    text_of(page, record)

    assert traffic.bodies, "no response was recorded"
    assert oidc.standin.issued, "the issuer issued no ID token"
    assert traffic.containing(CLIENT_SECRET) == []
    for token in oidc.standin.issued:
        assert traffic.containing(token) == [], "an ID token reached the browser"
        assert traffic.containing(token.split(".")[2]) == []  # not even its signature
    texts = [t for s in seen for t in s.texts]
    headers = [h for s in seen for h in s.headers]
    cookies = [c["value"] for c in page.context.cookies()]
    assert texts and any("set-cookie: hm_session=" in h for h in headers)
    for text in (*texts, *headers, *cookies):
        assert CLIENT_SECRET not in text
        assert not any(token in text for token in oidc.standin.issued)
        assert not re.search(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+", text), "a JWT in a page"
    assert [r for s in seen for r in s.server_errors()] == []
    audit = oidc.cli("audit", "export", "--no-checkpoint").stdout
    assert CLIENT_SECRET not in audit
