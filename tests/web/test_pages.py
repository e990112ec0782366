"""What the pages show (never a secret), the headers every answer carries, errors as pages."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from harbourmaster.domain.model import Role
from harbourmaster.services import governance_reads
from harbourmaster.services.results import (
    CredentialPublic,
    ExpiringCredentialPublic,
    RegistryPublic,
    TlsPublic,
)
from harbourmaster.web.pages import SECURITY_HEADERS
from harbourmaster.web.registries import credential_state
from harbourmaster.web.sessions import CSRF_FIELD
from tests.fakes.clock import FixedClock
from tests.web.conftest import CANARIES, ROLE_USERS, Web
from tests.web.test_roles import crawl


def _row(html: str, name: str) -> str:
    found = re.search(rf'<th scope="row">{re.escape(name)}(?=[\s<]).*?</tr>', html, re.DOTALL)
    assert found is not None, name
    return found.group(0)


def test_the_registries_list_shows_each_credential_state_never_its_value(web: Web, clock: FixedClock) -> None:
    clock.set(dt.datetime(2028, 3, 11, 12, tzinfo=dt.UTC))  # harbor-web's robot expires 2028-03-31
    web.sign_in("auditor")
    page = web.client.get("/ui/registries").text
    assert "expiring in 20 days" in _row(page, "harbor-web")
    assert "expired 2028-01-31" in _row(page, "ecr-prod")
    assert '<span class="state state-set">set</span>' in _row(page, "harbor-payments")
    assert '<span class="state state-set">set</span>' in _row(page, "ghcr-tools")  # no expiry
    assert '<span class="state state-none">none</span>' in _row(page, "dev-local")
    row = _row(page, "harbor-payments")
    assert "<td>harbor</td>" in row and "<td>harbor.corp</td>" in row and "<td>payments</td>" in row
    overview = web.client.get("/ui/").text
    assert "expiring in 20 days" in overview and "expired 2028-01-31" in overview


def test_the_environments_list_and_an_environment_with_its_grants(web: Web) -> None:
    web.sign_in("payments-dev")
    page = web.client.get("/ui/environments").text
    row = _row(page, '<a href="/ui/environments/prod-eu">prod-eu</a>')
    assert "<td>production</td>" in row and "<td>kubernetes</td>" in row
    env = web.client.get("/ui/environments/prod-eu")
    assert env.status_code == 200
    assert "<h1>Environment prod-eu</h1>" in env.text
    assert "Registry grants" in env.text
    grants = env.text.split("Registry grants", 1)[1]
    assert "harbor-payments" in grants


def test_no_page_shows_a_registry_secret_to_any_role(web: Web) -> None:
    for role, user in ROLE_USERS.items():
        web.sign_in(user)
        answers = [*crawl(web).values()]
        if role in (Role.ADMINISTRATOR, Role.PLATFORM_ENGINEER):
            for name in ("harbor-payments", "harbor-web", "ecr-prod", "ghcr-tools"):
                test = web.client.post(f"/ui/registries/{name}/test", data={CSRF_FIELD: web.csrf()})
                answers.append(test.text + str(test.headers))
        for text in answers:
            for canary in CANARIES.values():
                assert canary not in text, role


@pytest.mark.parametrize("path", ["/ui/", "/ui/registries", "/ui/environments", "/ui/environments/prod-eu",
                                  "/ui/environments/nowhere", "/ui/no-such-page", "/ui/sign-in"])
def test_every_answer_carries_the_security_headers(web: Web, path: str) -> None:
    web.sign_in("admin")
    answer = web.client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers[name] == value, name
    assert answer.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert "'unsafe-inline'" not in answer.headers["content-security-policy"]


def test_refusals_and_static_files_carry_the_security_headers(web: Web) -> None:
    for answer in (web.client.get("/ui/registries"), web.client.post("/ui/sign-out"),
                   web.client.get("/ui/static/hm.css")):
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value, name


def test_pages_use_no_inline_script_or_style_and_no_external_asset(web: Web) -> None:
    web.sign_in("admin")
    for path, html in crawl(web).items():
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert "<style" not in html and " style=" not in html, path
        for ref in re.findall(r'\b(?:src|href|action|hx-post|hx-get)="([^"]*)"', html):
            assert ref.startswith(("/ui/", "#")) or ref == "/ui", (path, ref)


def test_htmx_and_the_stylesheet_are_served_from_the_package(web: Web) -> None:
    script = web.client.get("/ui/static/htmx.min.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "htmx" in script.text[:2000]
    assert web.client.get("/ui/static/htmx.LICENSE").status_code == 200
    assert web.client.get("/ui/static/hm.css").headers["content-type"].startswith("text/css")


def test_a_test_connection_asked_by_htmx_answers_a_fragment(web: Web) -> None:
    web.sign_in("platform")
    answer = web.client.post("/ui/registries/harbor-payments/test", data={CSRF_FIELD: web.csrf()},
                             headers={"HX-Request": "true"})
    assert answer.status_code == 200
    assert answer.text.lstrip().startswith("<h2>Connection test of harbor-payments")
    assert "<html" not in answer.text


def test_a_service_error_is_a_page_with_its_message_and_status(web: Web) -> None:
    web.sign_in("auditor")
    missing = web.client.get("/ui/environments/prod-e")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "environment prod-e is not defined" in missing.text
    assert "Traceback" not in missing.text
    web.sign_in("admin")
    unknown = web.client.post("/ui/registries/nowhere/test", data={CSRF_FIELD: web.csrf()})
    assert unknown.status_code == 404
    assert "registry nowhere" in unknown.text


def test_an_unexpected_failure_is_a_500_page_without_a_traceback(web: Web, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(governance_reads, "list_environments", broken)
    web.sign_in("admin")
    answer = web.client.get("/ui/environments")
    assert answer.status_code == 500
    assert "could not answer this request" in answer.text
    assert "secret internals" not in answer.text and "Traceback" not in answer.text
    assert answer.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]


@pytest.mark.parametrize(("days", "shown"), [(0, "expires today"), (1, "expiring in 1 day"),
                                             (29, "expiring in 29 days")])
def test_credential_state_words(days: int, shown: str) -> None:
    expires = dt.date(2027, 1, 1)
    reg = RegistryPublic(
        name="r", provider="custom", url="https://r.example", host="r.example", scope=None, public=False,
        builtin=False, oci_artifacts=True, provider_fields={},
        tls=TlsPublic(ca_bundle_set=False, client_certificate_set=False, client_key_set=False,
                      insecure=False),
        credential=CredentialPublic(kind="user", username="u", secret_set=True, expires=expires.isoformat(),
                                    expired=False),
    )
    due = {("r", "u"): ExpiringCredentialPublic(registry="r", kind="user", username="u", expires=expires,
                                                days_left=days, expired=False)}
    state = credential_state(reg, due)
    assert (state.kind, state.text) == ("expiring", shown)
    assert credential_state(reg, {}).text == "set"
    assert reg.credential is not None
    unset = reg.model_copy(update={"credential": reg.credential.model_copy(update={"secret_set": False})
                                   })
    assert credential_state(unset, due).text == "none"
