"""Signing in to the web UI with OpenID Connect (authorization code flow with PKCE), against a local
stand-in OpenID provider (tests/web/oidc_standin.py); the browser's hops between the UI and the provider
are followed by hand."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from harbourmaster.services.core import Harbourmaster
from harbourmaster.settings import Settings
from harbourmaster.web.oidc import PENDING_COOKIE
from harbourmaster.web.sessions import COOKIE
from tests.fakes.clock import FixedClock
from tests.fakes.core import unit_core
from tests.fakes.registry import FakeRegistry
from tests.services.unit._example import ADMIN, apply_example
from tests.web.conftest import CANARIES, Web
from tests.web.oidc_standin import OidcStandIn

CLIENT_ID = "harbourmaster-ui"
CLIENT_SECRET = "canary-oidc-client-secret-Zr41Vq"


@pytest.fixture
def standin(clock: FixedClock) -> Iterator[OidcStandIn]:
    provider = OidcStandIn(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                           now=lambda: clock.now().timestamp()).start()
    yield provider
    provider.stop()


@pytest.fixture
def core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, harbor: FakeRegistry, clock: FixedClock,
         standin: OidcStandIn) -> Harbourmaster:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    settings = Settings(home=tmp_path / "home", oidc_issuer=standin.issuer, oidc_client_id=CLIENT_ID,
                        oidc_client_secret=CLIENT_SECRET)  # type: ignore[arg-type]
    hm = unit_core(clock=clock, registries=(harbor,), settings=settings)
    apply_example(hm)
    return hm


def _payload(value: str) -> dict[str, object]:
    data = value.split(".")[0]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    return decoded


def _to_provider(web: Web, next_page: str = "") -> str:
    """Start signing in; the URL of the provider's authorization endpoint the browser is sent to."""
    login = web.client.get("/ui/oidc/login" + (f"?next={next_page}" if next_page else ""),
                           follow_redirects=False)
    assert login.status_code == 303, login.text
    return login.headers["location"]


def _consent(authorize_url: str) -> str:
    """The provider's answer (auto-consent): the callback URL it sends the browser back to."""
    answer = httpx.get(authorize_url, follow_redirects=False)
    assert answer.status_code == 302
    return answer.headers["location"]


def _sign_in(web: Web, next_page: str = "") -> httpx.Response:
    return web.client.get(_consent(_to_provider(web, next_page)), follow_redirects=False)


def _sign_ins(hm: Harbourmaster) -> list[tuple[str, str, str, dict[str, object]]]:
    with hm.store.read() as tx:
        return [(e.actor, e.target, e.result, dict(e.details)) for e in tx.audit.entries()
                if e.action == "web.sign-in"]


def test_the_full_flow_signs_in_as_the_models_user_with_its_role(web: Web, standin: OidcStandIn) -> None:
    page = web.client.get("/ui/sign-in")
    assert f"Sign in with {standin.issuer}" in page.text
    assert 'name="token"' in page.text  # the token form stays

    authorize = _to_provider(web, next_page="/ui/environments")
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{standin.issuer}/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [CLIENT_ID]
    assert query["redirect_uri"] == ["http://testserver/ui/oidc/callback"]
    assert {"state", "nonce", "code_challenge"} <= query.keys()
    assert web.client.cookies[PENDING_COOKIE]  # state, nonce and verifier: in the browser, signed

    done = web.client.get(_consent(authorize), follow_redirects=False)
    assert done.status_code == 200, done.text
    assert done.headers["refresh"] == "0; url=/ui/environments"
    assert standin.token_requests == [("client_secret_basic", "ok")]
    assert PENDING_COOKIE not in web.client.cookies  # used once
    session = _payload(web.client.cookies[COOKIE])
    assert set(session) == {"c", "s"} and "platform" not in json.dumps(session)
    with web.hm.store.read() as tx:
        stored = tx.web_sessions.get(hashlib.sha256(str(session["s"]).encode()).hexdigest())
    assert stored is not None and (stored.user, stored.method, stored.token_id) == ("platform", "oidc", None)

    overview = web.client.get("/ui/")
    assert overview.status_code == 200
    assert "Signed in as <strong>platform</strong> (platform-engineer)" in overview.text
    assert web.client.get("/ui/environments").status_code == 200
    [(actor, target, result, details)] = _sign_ins(web.hm)
    assert (actor, target, result) == ("platform", "user platform", "ok")
    assert details["method"] == "oidc" and details["issuer"] == standin.issuer


def test_the_session_takes_the_role_the_model_gives_now(web: Web, standin: OidcStandIn) -> None:
    standin.user = "auditor"
    assert _sign_in(web).status_code == 200
    assert "(auditor)" in web.client.get("/ui/").text


def test_without_an_issuer_only_the_token_form_is_shown(tmp_path: Path, clock: FixedClock) -> None:
    from fastapi.testclient import TestClient

    from harbourmaster.api.app import create_app

    hm = unit_core(clock=clock, settings=Settings(home=tmp_path / "home"))
    with TestClient(create_app(hm), raise_server_exceptions=False) as client:
        page = client.get("/ui/sign-in")
        assert page.status_code == 200 and 'name="token"' in page.text
        assert "Sign in with" not in page.text and "/ui/oidc/login" not in page.text
        off = client.get("/ui/oidc/login", follow_redirects=False)
        assert off.status_code == 404 and "not configured" in off.text


def test_a_state_that_is_not_this_browsers_is_refused(web: Web) -> None:
    callback = urlsplit(_consent(_to_provider(web)))
    query = {k: v[0] for k, v in parse_qs(callback.query).items()}
    forged = web.client.get(f"/ui/oidc/callback?{urlencode({**query, 'state': 'attacker-state'})}")
    assert forged.status_code == 401
    assert "Sign-in failed" in forged.text and "its state differs" in forged.text
    assert web.client.get("/ui/").status_code == 401  # no session


def test_a_callback_without_a_started_sign_in_is_refused(web: Web) -> None:
    callback = _consent(_to_provider(web))
    web.client.cookies.delete(PENDING_COOKIE, path="/ui/oidc/callback")
    answer = web.client.get(callback)
    assert answer.status_code == 401 and "no sign-in was started in this browser" in answer.text


def test_a_tampered_id_token_is_refused_and_audited(web: Web, standin: OidcStandIn) -> None:
    standin.tamper = True
    answer = _sign_in(web)
    assert answer.status_code == 401
    assert "signature does not verify" in answer.text
    assert web.client.get("/ui/").status_code == 401
    [(actor, _, result, details)] = _sign_ins(web.hm)
    assert (actor, result) == ("anonymous", "refused") and "signature" in str(details["reason"])


def test_a_token_signed_by_another_key_is_refused(web: Web, standin: OidcStandIn) -> None:
    standin.sign_with_other_key = True
    answer = _sign_in(web)
    assert answer.status_code == 401 and "signature does not verify" in answer.text


def test_a_token_for_another_audience_is_refused(web: Web, standin: OidcStandIn) -> None:
    standin.audience = "some-other-client"
    answer = _sign_in(web)
    assert answer.status_code == 401
    assert "its aud claim is not what this sign-in expects" in answer.text
    assert web.client.get("/ui/").status_code == 401


def test_an_expired_token_is_refused(web: Web, standin: OidcStandIn) -> None:
    standin.lifetime = -120  # expired two minutes ago: beyond the 60 s allowed for clock skew
    answer = _sign_in(web)
    assert answer.status_code == 401 and "it has expired" in answer.text


def test_an_unknown_user_is_refused_with_a_clear_message_and_audited(web: Web, standin: OidcStandIn) -> None:
    standin.user = "ghost"
    answer = _sign_in(web)
    assert answer.status_code == 403
    assert "no user ghost is defined in the governance model" in answer.text
    assert web.client.get("/ui/").status_code == 401
    [(actor, target, result, details)] = _sign_ins(web.hm)
    assert (actor, target, result) == ("ghost", "user ghost", "refused")
    assert details["method"] == "oidc" and details["reason"] == "no such user"


def test_the_pkce_verifier_is_checked(web: Web, standin: OidcStandIn) -> None:
    """A code stolen from another sign-in is useless: this browser's verifier does not match it."""
    stolen = parse_qs(urlsplit(_consent(_to_provider(web))).query)["code"][0]
    web.client.cookies.clear()
    own = parse_qs(urlsplit(_consent(_to_provider(web))).query)
    answer = web.client.get(f"/ui/oidc/callback?{urlencode({'code': stolen, 'state': own['state'][0]})}")
    assert answer.status_code == 401 and "refused the authorization code" in answer.text
    assert standin.token_requests == [("client_secret_basic", "pkce verifier mismatch")]
    assert web.client.get("/ui/").status_code == 401


def test_client_secret_post_when_the_provider_says_so(web: Web, standin: OidcStandIn) -> None:
    standin.auth_methods = ("client_secret_post",)
    assert _sign_in(web).status_code == 200
    assert standin.token_requests == [("client_secret_post", "ok")]


def test_an_unreachable_issuer_is_an_explained_page(web: Web, standin: OidcStandIn) -> None:
    standin.stop()
    answer = web.client.get("/ui/oidc/login", follow_redirects=False)
    assert answer.status_code == 502
    assert "could not be reached" in answer.text and "Traceback" not in answer.text


def test_an_error_from_the_provider_is_explained(web: Web) -> None:
    _to_provider(web)
    answer = web.client.get("/ui/oidc/callback?error=access_denied&state=x")
    assert answer.status_code == 401 and "did not sign you in (access_denied)" in answer.text


def test_the_session_ends_when_the_user_leaves_the_model(web: Web, standin: OidcStandIn) -> None:
    from harbourmaster.services.apply import apply_document

    assert _sign_in(web).status_code == 200
    assert web.client.get("/ui/").status_code == 200
    example = (Path(__file__).parents[2] / "examples" / "governance.yaml").read_text()
    without = example.replace("  - name: platform\n    role: platform-engineer\n", "")
    assert without != example
    apply_document(web.hm, ADMIN, without, source="governance.yaml", host=web.hm.host_files(),
                   prune=True)
    ended = web.client.get("/ui/")
    assert ended.status_code == 401 and "user platform is no longer defined" in ended.text


def test_the_client_secret_code_and_tokens_appear_nowhere(web: Web, standin: OidcStandIn,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    pages: list[str] = [web.client.get("/ui/sign-in").text]
    callback = _consent(_to_provider(web))
    code = parse_qs(urlsplit(callback).query)["code"][0]
    pages.append(web.client.get(callback).text)
    pages.append(web.client.get("/ui/").text)
    standin.user = "ghost"
    pages.append(_sign_in(web).text)
    standin.user, standin.tamper = "admin", True
    pages.append(_sign_in(web).text)
    with web.hm.store.read() as tx:
        audit = json.dumps([[e.actor, e.target, e.details] for e in tx.audit.entries()], default=str)
    # The test's own browser hops (its httpx and the TestClient) log the callback URL: only the
    # application's records count for the code; the client secret must be in none at all.
    assert CLIENT_SECRET not in caplog.text
    app_logs = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("harbourmaster"))
    for text in (*pages, audit, app_logs, repr(web.hm.settings), web.hm.settings.model_dump_json()):
        assert CLIENT_SECRET not in text
        assert code not in text
        assert "eyJ" not in text  # no JWT (ID token) in any page, record or log line
