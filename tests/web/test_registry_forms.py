"""Registries from the web UI: add from a provider template (each asking only its fields), edit with
write-only secrets, delete after a confirmation, hide or show Docker Hub anonymous, browse; refusals
inline; roles and CSRF as everywhere."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from harbourmaster.api.routes import registries as api_registries
from harbourmaster.domain.authz import PERMISSIONS, Permission, Principal
from harbourmaster.domain.model import Provider, Role
from harbourmaster.services import governance_reads
from harbourmaster.services.document import PROVIDER_FIELDS
from harbourmaster.services.results import RegistryPublic
from harbourmaster.web import registry_browse, registry_forms
from harbourmaster.web.registry_forms import PROVIDERS
from harbourmaster.web.sessions import CSRF_FIELD
from tests.fakes.registry import FakeRegistry
from tests.web.conftest import CANARIES, ROLE_USERS, Web, changes
from tests.web.test_csrf import _post_forms
from tests.web.test_layout import _outline
from tests.web.test_roles import crawl

CANARY = "canary-typed-in-the-form-4Rb7Tz"
ADMIN = Principal("tests", Role.ADMINISTRATOR)
#: A value each provider-specific field accepts.
SAMPLE = {"region": "eu-west-1", "account": "123456789012", "instance": "https://gitlab.example.com",
          "project": "team-project", "organisation": "example-org", "feed_url": "https://proget.example.com/feed",
          "tenant": "example-tenant"}
URLS = {Provider.ECR: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com", Provider.GHCR: "https://ghcr.io",
        Provider.QUAY: "https://quay.io", Provider.DOCKERHUB: "https://registry-1.docker.io"}


def _form(web: Web, **fields: str) -> dict[str, str]:
    return {CSRF_FIELD: web.csrf("/ui/registries"), **fields}


def _registry(web: Web, name: str) -> RegistryPublic | None:
    return next((r for r in governance_reads.list_registries(web.hm, ADMIN) if r.name == name), None)


def _no_canary(*texts: str) -> None:
    for text in texts:
        assert CANARY not in text
        for canary in CANARIES.values():
            assert canary not in text


def test_the_add_page_offers_every_provider_template(web: Web) -> None:
    web.sign_in("admin")
    registries = web.client.get("/ui/registries").text
    assert 'href="/ui/registries/new"' in registries
    page = web.client.get("/ui/registries/new")
    assert page.status_code == 200
    for provider, label in PROVIDERS.items():
        assert f'href="/ui/registries/new?provider={provider.value}"' in page.text
        assert label in page.text
    assert "dockerhub-anonymous" not in page.text  # built in: never added
    unknown = web.client.get("/ui/registries/new?provider=dockerhub-anonymous")
    assert unknown.status_code == 422
    assert "no provider template called" in unknown.text


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_each_provider_template_asks_only_for_its_fields(web: Web, provider: Provider) -> None:
    web.sign_in("admin")
    page = web.client.get(f"/ui/registries/new?provider={provider.value}")
    assert page.status_code == 200
    assert f"Add a registry: {PROVIDERS[provider]}" in page.text
    for name, providers in PROVIDER_FIELDS.items():
        assert (f'name="{name}"' in page.text) == (provider in providers), name
        if provider in providers:
            assert f'<label for="f-{name}">' in page.text
    for common in ("name", "url", "scope", "credential_username", "credential_secret", "credential_expires",
                   "tls_ca_bundle", "tls_insecure"):
        assert f'name="{common}"' in page.text
    assert '<legend>Credential</legend>' in page.text and '<legend>TLS</legend>' in page.text


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_a_registry_is_added_from_each_provider_template(web: Web, provider: Provider) -> None:
    web.sign_in("admin")
    own = {n: SAMPLE[n] for n, providers in PROVIDER_FIELDS.items() if provider in providers}
    name = f"new-{provider.value}"
    answer = web.client.post("/ui/registries/new", data=_form(
        web, provider=provider.value, name=name, url=URLS.get(provider, "https://registry.example.com"),
        credential_kind="robot", credential_username="robot-user", credential_secret=CANARY,
        credential_expires="2029-01-31", **own), follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/ui/registries/{name}/edit?saved=added"
    reg = _registry(web, name)
    assert reg is not None and reg.provider == provider.value
    assert reg.provider_fields == own
    assert reg.credential is not None and reg.credential.secret_set
    assert reg.credential.username == "robot-user"
    assert ("registry.create", name, "ok") in changes(web.hm)
    edit = web.client.get(answer.headers["location"])
    assert f"Registry {name} was added." in edit.text
    _no_canary(answer.text, edit.text, web.client.get("/ui/registries").text)


def test_a_refused_form_is_shown_again_with_each_problem_beside_its_field_and_no_secret(web: Web) -> None:
    web.sign_in("admin")
    before = changes(web.hm)
    answer = web.client.post("/ui/registries/new", data=_form(
        web, provider="ecr", name="broken", url="ftp://nowhere", region="eu-west-1",
        credential_username="someone", credential_secret=CANARY, credential_expires="2029-01-31",
        tls_client_key=CANARY))
    assert answer.status_code == 422
    assert changes(web.hm) == before and _registry(web, "broken") is None
    _no_canary(answer.text)
    assert "Refused:" in answer.text
    # Each problem beside its control, linked to it, and in the summary as a link to the control.
    url = re.search(r'<input type="text" id="f-url"[^>]*>', answer.text)
    assert url is not None and 'aria-describedby="f-url-hint f-url-error"' in url.group(0)
    assert 'aria-invalid="true"' in url.group(0)
    assert re.search(r'<p class="field-error" id="f-url-error"><strong>Problem:</strong> [^<]+', answer.text)
    assert '<a href="#f-url">URL</a>' in answer.text
    # What was typed is kept (not the secrets: those fields are empty).
    assert 'value="broken"' in answer.text and 'value="someone"' in answer.text
    for secret in re.findall(r'<input type="password"[^>]*>', answer.text):
        assert 'value=""' in secret
    date = web.client.post("/ui/registries/new", data=_form(
        web, provider="custom", name="broken", url="https://registry.example.com",
        credential_username="someone",
        credential_secret=CANARY, credential_expires="not-a-date"))
    assert date.status_code == 422 and 'id="f-credential_expires-error"' in date.text
    assert changes(web.hm) == before
    _no_canary(date.text)


def test_a_secret_without_a_user_name_is_refused_inline(web: Web) -> None:
    web.sign_in("admin")
    answer = web.client.post("/ui/registries/new", data=_form(
        web, provider="custom", name="lonely-secret", url="https://registry.example.com",
        credential_secret=CANARY))
    assert answer.status_code == 422
    assert re.search(r'id="f-credential_username-error"><strong>Problem:</strong> a secret needs the user',
                     answer.text)
    assert _registry(web, "lonely-secret") is None
    _no_canary(answer.text)


def test_adding_an_existing_name_is_a_conflict_shown_inline(web: Web) -> None:
    web.sign_in("admin")
    answer = web.client.post("/ui/registries/new", data=_form(
        web, provider="harbor", name="harbor-payments", url="https://other.example.com"))
    assert answer.status_code == 409
    assert "registry harbor-payments already exists" in answer.text
    assert _registry(web, "harbor-payments").url == "https://harbor.corp"  # type: ignore[union-attr]


def _test(web: Web, name: str) -> str:
    text: str = web.client.post(f"/ui/registries/{name}/test", data=_form(web)).text
    return text


def test_editing_keeps_the_stored_secret_when_its_field_is_empty_and_replaces_it_when_given(web: Web) -> None:
    web.sign_in("admin")
    page = web.client.get("/ui/registries/harbor-payments/edit")
    assert page.status_code == 200
    _no_canary(page.text)
    assert "A value is stored: leave this empty to keep it." in page.text
    assert 'value="robot$payments+deployer"' in page.text and 'value="payments"' in page.text
    fields = {"url": "https://harbor.corp", "scope": "payments", "credential_kind": "robot",
              "credential_username": "robot$payments+deployer", "credential_expires": "2028-06-30"}
    kept = web.client.post("/ui/registries/harbor-payments/edit",
                           data=_form(web, **fields, credential_secret=""),
                           follow_redirects=False)
    assert kept.status_code == 303
    # The fake Harbor accepts only the stored secret: the connection still authenticates.
    assert "Connection test of harbor-payments: passed" in _test(web, "harbor-payments")
    replaced = web.client.post("/ui/registries/harbor-payments/edit",
                               data=_form(web, **fields, credential_secret=CANARY), follow_redirects=True)
    assert replaced.status_code == 200 and "Registry harbor-payments was saved." in replaced.text
    assert "Connection test of harbor-payments: failed" in _test(web, "harbor-payments")
    _no_canary(kept.text, replaced.text, *crawl(web).values())


def test_an_edit_changes_the_fields_and_a_refused_edit_changes_nothing(web: Web) -> None:
    web.sign_in("platform")
    fields = {"url": "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com", "region": "eu-central-1",
              "account": "123456789012", "credential_kind": "robot",
              "credential_username": "AKIAEXAMPLEDEPLOYER",
              "credential_expires": "2028-01-31"}
    page = web.client.get("/ui/registries/ecr-prod/edit").text
    assert 'name="region"' in page and 'name="organisation"' not in page
    answer = web.client.post("/ui/registries/ecr-prod/edit", data=_form(web, **fields),
                             follow_redirects=False)
    assert answer.status_code == 303
    assert _registry(web, "ecr-prod").provider_fields["region"] == "eu-central-1"  # type: ignore[union-attr]
    assert ("registry.update", "ecr-prod", "ok") in changes(web.hm)
    before = changes(web.hm)
    refused = web.client.post("/ui/registries/ecr-prod/edit",
                              data=_form(web, **{**fields, "url": "not a url"}, credential_secret=CANARY))
    assert refused.status_code == 422 and 'id="f-url-error"' in refused.text
    # A rule of the whole model, not of one field: above the form, in the rule's own words.
    no_expiry = web.client.post("/ui/registries/ecr-prod/edit",
                                data=_form(web, **{**fields, "credential_expires": ""},
                                           credential_secret=CANARY))
    assert no_expiry.status_code == 422
    assert ("registry ecr-prod uses a robot credential without an expiry and cannot be granted to production "
            "environment prod-eu (rule D-08") in no_expiry.text
    assert changes(web.hm) == before
    _no_canary(refused.text, no_expiry.text)


def test_a_built_in_registry_has_no_edit_or_delete(web: Web) -> None:
    web.sign_in("admin")
    page = web.client.get("/ui/registries").text
    assert 'href="/ui/registries/dockerhub-anonymous/edit"' not in page
    assert 'href="/ui/registries/dockerhub-anonymous/delete"' not in page
    assert web.client.get("/ui/registries/dockerhub-anonymous/edit").status_code == 422
    before = changes(web.hm)
    answer = web.client.post("/ui/registries/dockerhub-anonymous/delete", data=_form(web))
    assert answer.status_code == 422 and "cannot be deleted; hide it instead" in answer.text
    assert changes(web.hm) == before


def test_delete_asks_first_then_deletes_the_registry_and_its_grants(web: Web) -> None:
    web.sign_in("admin")
    confirm = web.client.get("/ui/registries/harbor-web/delete")
    assert confirm.status_code == 200
    assert "Delete registry harbor-web?" in confirm.text and "prod-eu: namespace web" in confirm.text
    assert _registry(web, "harbor-web") is not None  # asking changed nothing
    done = web.client.post("/ui/registries/harbor-web/delete", data=_form(web))
    assert done.status_code == 200 and "Registry harbor-web and its grants were deleted." in done.text
    assert _registry(web, "harbor-web") is None
    assert all(g.registry != "harbor-web" for g in governance_reads.list_grants(web.hm, ADMIN))
    assert ("registry.delete", "harbor-web", "ok") in changes(web.hm)
    assert web.client.get("/ui/registries/harbor-web/delete").status_code == 404


def test_docker_hub_anonymous_is_hidden_and_shown_globally_and_per_environment(web: Web) -> None:
    web.sign_in("admin")
    page = web.client.get("/ui/registries/dockerhub-anonymous/visibility")
    assert page.status_code == 200 and "is <strong>shown</strong> globally" in page.text
    hide = web.client.post("/ui/registries/dockerhub-anonymous/visibility", data=_form(web, hidden="true"))
    assert hide.status_code == 200 and "The change was saved." in hide.text
    assert web.hm.state().hide_dockerhub_anonymous
    assert "is <strong>hidden</strong> globally" in hide.text
    web.client.post("/ui/registries/dockerhub-anonymous/visibility", data=_form(web, hidden="false"))
    assert not web.hm.state().hide_dockerhub_anonymous
    web.client.post("/ui/registries/dockerhub-anonymous/visibility",
                    data=_form(web, hidden="true", environment="dev-docker"))
    env = web.hm.state().environment("dev-docker")
    assert env is not None and env.hide_dockerhub_anonymous
    web.client.post("/ui/registries/dockerhub-anonymous/visibility",
                    data=_form(web, hidden="false", environment="prod-eu"))
    env = web.hm.state().environment("prod-eu")
    assert env is not None and not env.hide_dockerhub_anonymous
    actions = [a for a in changes(web.hm) if "hide_dockerhub_anonymous" in a[0]]
    assert [a[1] for a in actions] == ["global", "global", "dev-docker", "prod-eu"]
    missing = web.client.post("/ui/registries/dockerhub-anonymous/visibility",
                              data=_form(web, hidden="true", environment="nowhere"))
    assert missing.status_code == 404 and "environment nowhere is not defined" in missing.text


def test_browse_repositories_tags_and_a_digest_with_its_status(web: Web, harbor: FakeRegistry) -> None:
    digest = harbor.push("payments/api", "1.4")
    harbor.push("web/site", "2.0")  # outside harbor-payments' scope
    web.sign_in("platform")
    assert 'href="/ui/registries/harbor-payments/browse"' in web.client.get("/ui/registries").text
    repos = web.client.get("/ui/registries/harbor-payments/browse")
    assert repos.status_code == 200
    assert 'href="/ui/registries/harbor-payments/browse?repository=payments/api"' in repos.text
    assert "web/site" not in repos.text
    tags = web.client.get("/ui/registries/harbor-payments/browse?repository=payments/api")
    assert 'reference=1.4"' in tags.text
    image = web.client.get("/ui/registries/harbor-payments/browse?repository=payments/api&reference=1.4")
    assert image.status_code == 200
    assert f"<code>{digest}</code>" in image.text
    assert "<strong>Unknown:</strong> harbourmaster keeps no scan of this digest." in image.text
    assert "<strong>None:</strong> harbourmaster keeps no SBOM of this digest." in image.text
    # harbor-payments is granted to three environments: none has verified this digest's signatures.
    for env in ("dev-docker", "prod-eu", "staging-k8s"):
        assert re.search(rf'<th scope="row">{env}</th>.*?unknown: not verified yet', image.text, re.DOTALL)
    _no_canary(repos.text, tags.text, image.text)


def test_a_registry_that_cannot_be_browsed_is_explained_not_a_server_error(web: Web) -> None:
    web.sign_in("admin")
    refused = web.client.get("/ui/registries/harbor-web/browse")  # the fake Harbor refuses its robot
    assert refused.status_code == 200
    assert "harbor-web could not be browsed." in refused.text and 'role="alert"' in refused.text
    unreachable = web.client.get("/ui/registries/ecr-prod/browse")
    assert unreachable.status_code == 200 and "ecr-prod could not be browsed." in unreachable.text
    no_catalog = web.client.get("/ui/registries/ghcr-tools/browse")
    assert "This registry cannot list its repositories." in no_catalog.text
    assert "Name a repository above" in no_catalog.text
    missing = web.client.get("/ui/registries/harbor-payments/browse?repository=payments/none")
    assert missing.status_code == 200 and "could not be browsed" in missing.text
    assert web.client.get("/ui/registries/nowhere/browse").status_code == 404
    _no_canary(refused.text, unreachable.text, no_catalog.text)


def test_the_provider_form_swaps_in_place_with_htmx(web: Web) -> None:
    web.sign_in("admin")
    page = web.client.get("/ui/registries/new")
    assert 'hx-get="/ui/registries/new?provider=ecr"' in page.text
    fragment = web.client.get("/ui/registries/new?provider=ecr", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'id="registry-form-area"' in fragment.text
    assert 'name="region"' in fragment.text


_WRITE_PAGES = ("/ui/registries/new", "/ui/registries/new?provider=harbor",
                "/ui/registries/harbor-payments/edit",
                "/ui/registries/harbor-payments/delete", "/ui/registries/dockerhub-anonymous/visibility")
_WRITE_FORMS = {"/ui/registries/new": {"provider": "custom", "name": "forced", "url": "https://forced.example"},
                "/ui/registries/harbor-payments/edit": {"url": "https://forced.example"},
                "/ui/registries/harbor-payments/delete": {"confirm": "yes"},
                "/ui/registries/dockerhub-anonymous/visibility": {"hidden": "true"}}


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_each_role_sees_the_registry_actions_it_may_use_and_is_refused_the_others(web: Web, role: Role
                                                                                 ) -> None:
    web.sign_in(ROLE_USERS[role])
    page = web.client.get("/ui/registries").text
    may_write = role in PERMISSIONS[Permission.GOVERNANCE_WRITE]
    may_browse = role in PERMISSIONS[Permission.REGISTRY_PROBE]
    assert ('href="/ui/registries/new"' in page) == may_write
    assert ('href="/ui/registries/harbor-payments/edit"' in page) == may_write
    assert ('href="/ui/registries/harbor-payments/delete"' in page) == may_write
    assert ('href="/ui/registries/dockerhub-anonymous/visibility"' in page) == may_write
    assert ('href="/ui/registries/harbor-payments/browse"' in page) == may_browse
    for path in _WRITE_PAGES:
        assert web.client.get(path).status_code == (200 if may_write else 403), path
    assert web.client.get("/ui/registries/harbor-payments/browse").status_code == (200 if may_browse else 403)
    if may_write:
        return
    before = changes(web.hm)
    for action, fields in _WRITE_FORMS.items():
        answer = web.client.post(action, data=_form(web, **fields))
        assert answer.status_code == 403, action
        assert f"may not {Permission.GOVERNANCE_WRITE.value}" in answer.text
    assert changes(web.hm) == before


def test_the_csrf_crawl_finds_every_registry_form(web: Web) -> None:
    web.sign_in("admin")
    assert set(_WRITE_FORMS) <= _post_forms(web)


@pytest.mark.parametrize("presented", [None, "forged-token"])
def test_every_registry_form_refuses_a_missing_or_wrong_csrf_token(web: Web, presented: str | None) -> None:
    web.sign_in("admin")
    before = changes(web.hm)
    for action, fields in _WRITE_FORMS.items():
        data = dict(fields) if presented is None else {CSRF_FIELD: presented, **fields}
        answer = web.client.post(action, data=data)
        assert answer.status_code == 403, action
        assert "CSRF token is missing or out of date" in answer.text
    assert changes(web.hm) == before
    assert _registry(web, "harbor-payments").url == "https://harbor.corp"  # type: ignore[union-attr]


def test_the_new_pages_label_every_control_and_describe_it_with_elements_that_exist(
        web: Web, harbor: FakeRegistry) -> None:
    harbor.push("payments/api", "1.4")
    web.sign_in("admin")
    refused = web.client.post("/ui/registries/new", data=_form(
        web, provider="ecr", name="broken", url="ftp://nowhere", credential_username="x")).text
    pages = {path: web.client.get(path).text for path in (
        *_WRITE_PAGES, *(f"/ui/registries/new?provider={p.value}" for p in PROVIDERS),
        "/ui/registries/harbor-payments/browse",
        "/ui/registries/harbor-payments/browse?repository=payments/api",
        "/ui/registries/harbor-payments/browse?repository=payments/api&reference=1.4",
        "/ui/environments/prod-eu", "/ui/environments/dev-docker")}
    pages["refused"] = refused
    for path, html in pages.items():
        page = _outline(html)
        assert page.headings and page.headings[0] == 1 and page.headings.count(1) == 1, path
        for before, after in zip(page.headings, page.headings[1:], strict=False):
            assert after <= before + 1, (path, page.headings)
        for control in page.controls:
            assert control.get("id") in page.labels or control.get("aria-label"), (path, control)
        for _tag, attrs in page.tags:
            for described in str(attrs.get("aria-describedby") or "").split():
                assert described in page.ids, (path, described)
        assert html.count("<fieldset") == html.count("<legend"), path


def route_permissions(router: APIRouter) -> dict[tuple[str, str], Permission]:
    """(method, path) → the permission a route's dependency requires (``.permission`` on the dependency,
    as both ``viewing``/``acting`` and the API's ``RequirePermission`` carry it)."""
    found: dict[tuple[str, str], Permission] = {}

    def walk(route: APIRoute, dependant: Dependant) -> None:
        for dependency in dependant.dependencies:
            permission = getattr(dependency.call, "permission", None)
            if permission is not None:
                for method in route.methods or ():
                    found[(method, route.path)] = permission
            walk(route, dependency)

    for route in router.routes:
        assert isinstance(route, APIRoute)
        walk(route, route.dependant)
    return found


def test_each_registry_action_requires_what_the_api_route_requires() -> None:
    ui = {**route_permissions(registry_forms.router), **route_permissions(registry_browse.router)}
    api = route_permissions(api_registries.router)
    same = {
        ("POST", "/ui/registries/new"): ("POST", "/registries"),
        ("POST", "/ui/registries/{name}/edit"): ("PATCH", "/registries/{name}"),
        ("POST", "/ui/registries/{name}/delete"): ("DELETE", "/registries/{name}"),
        ("POST", "/ui/registries/dockerhub-anonymous/visibility"):
            ("PUT", "/registries/dockerhub-anonymous/visibility"),
        ("GET", "/ui/registries/{name}/browse"): ("GET", "/registries/{name}/browse"),
    }
    for page, route in same.items():
        assert ui[page] is api[route], page
    # The pages that show a form need what sending it needs.
    for path in ("/ui/registries/new", "/ui/registries/{name}/edit", "/ui/registries/{name}/delete",
                 "/ui/registries/dockerhub-anonymous/visibility"):
        assert ui[("GET", path)] is ui[("POST", path)], path
