"""Grants and access from an environment's page: grant to a namespace (Kubernetes) or to a user or team
(docker-standalone), revoke, add and remove access; a refusal is explained inline in the rules' words,
and changes nothing; roles and CSRF as everywhere."""

from __future__ import annotations

import re

import pytest

from harbourmaster.api.routes import grants as api_grants
from harbourmaster.domain.authz import PERMISSIONS, Permission, Principal
from harbourmaster.domain.model import Role
from harbourmaster.services import governance_reads
from harbourmaster.web import grants
from harbourmaster.web.sessions import CSRF_FIELD
from tests.web.conftest import ROLE_USERS, Web, changes
from tests.web.test_csrf import _post_forms
from tests.web.test_registry_forms import route_permissions

ADMIN = Principal("tests", Role.ADMINISTRATOR)


def _grants(web: Web, environment: str) -> set[tuple[str, str | None, str | None, str | None]]:
    return {(g.registry, g.namespace, g.user, g.team) for g in governance_reads.list_grants(web.hm, ADMIN)
            if g.environment == environment}


def _access(web: Web, environment: str) -> set[tuple[str | None, str | None, str]]:
    return {(a.user, a.team, a.role) for a in governance_reads.list_access(web.hm, ADMIN)
            if a.environment == environment}


def test_a_kubernetes_environment_grants_a_registry_to_a_namespace(web: Web) -> None:
    web.sign_in("platform")
    page = web.client.get("/ui/environments/prod-eu").text
    assert "Grant a registry" in page and '<label for="g-namespace">Namespace</label>' in page
    assert 'name="grantee"' not in page.split('id="grant-add"', 1)[1].split("</form>", 1)[0]
    answer = web.client.post("/ui/environments/prod-eu/grants", follow_redirects=False, data={
        CSRF_FIELD: web.csrf(), "registry": "harbor-web", "namespace": "payments"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/environments/prod-eu?changed=grants#grants"
    assert ("harbor-web", "payments", None, None) in _grants(web, "prod-eu")
    assert ("grant.add", "harbor-web -> prod-eu", "ok") in changes(web.hm)
    shown = web.client.get(answer.headers["location"]).text
    assert "The grants of prod-eu were changed." in shown


def test_a_docker_environment_grants_a_registry_to_a_user_or_a_team(web: Web) -> None:
    web.sign_in("admin")
    page = web.client.get("/ui/environments/dev-docker").text
    assert '<label for="g-grantee">User or team</label>' in page and 'name="namespace"' not in page
    csrf = web.csrf()
    web.client.post("/ui/environments/dev-docker/grants",
                    data={CSRF_FIELD: csrf, "registry": "dev-local", "grantee": "team:web"})
    web.client.post("/ui/environments/dev-docker/grants",
                    data={CSRF_FIELD: csrf, "registry": "dev-local", "grantee": "user:tools-dev"})
    granted = _grants(web, "dev-docker")
    assert {("dev-local", None, None, "web"), ("dev-local", None, "tools-dev", None)} <= granted


def test_a_refused_grant_is_explained_inline_and_changes_nothing(web: Web) -> None:
    web.sign_in("admin")
    before, grants = changes(web.hm), _grants(web, "prod-eu")
    answer = web.client.post("/ui/environments/prod-eu/grants",
                             data={CSRF_FIELD: web.csrf(), "registry": "dev-local", "namespace": "payments"})
    assert answer.status_code == 422
    assert changes(web.hm) == before and _grants(web, "prod-eu") == grants
    form = answer.text.split('id="grant-add"', 1)[1].split("</form>", 1)[0]
    assert 'aria-describedby="grant-problems"' in form
    problems = re.search(r'<div class="notice" role="alert" id="grant-problems">(.*?)</div>', form, re.DOTALL)
    assert problems is not None
    assert "Refused:" in problems.group(1)
    assert "dev-local" in problems.group(1) and "production" in problems.group(1)
    # The choices are kept, to correct and send again.
    assert '<option value="dev-local" selected>' in form and 'value="payments"' in form


def test_a_grant_without_a_grantee_is_refused_inline(web: Web) -> None:
    web.sign_in("admin")
    before = changes(web.hm)
    answer = web.client.post("/ui/environments/dev-docker/grants",
                             data={CSRF_FIELD: web.csrf(), "registry": "dev-local", "grantee": ""})
    assert answer.status_code == 422 and "name a user or a team" in answer.text  # the rule's words
    forged = web.client.post("/ui/environments/dev-docker/grants",
                             data={CSRF_FIELD: web.csrf(), "registry": "dev-local", "grantee": "robot:x"})
    assert forged.status_code == 422 and "neither user:NAME nor team:NAME" in forged.text
    assert changes(web.hm) == before


def test_a_grant_is_revoked_from_its_row(web: Web) -> None:
    web.sign_in("admin")
    page = web.client.get("/ui/environments/prod-eu").text
    assert 'action="/ui/environments/prod-eu/grants/delete"' in page
    assert "Revoke<span class=\"visually-hidden\"> harbor-payments from namespace payments</span>" in page
    answer = web.client.post("/ui/environments/prod-eu/grants/delete", follow_redirects=False, data={
        CSRF_FIELD: web.csrf(), "registry": "harbor-payments", "namespace": "payments"})
    assert answer.status_code == 303
    assert ("harbor-payments", "payments", None, None) not in _grants(web, "prod-eu")
    assert ("grant.remove", "harbor-payments -> prod-eu", "ok") in changes(web.hm)
    again = web.client.post("/ui/environments/prod-eu/grants/delete", data={
        CSRF_FIELD: web.csrf(), "registry": "harbor-payments", "namespace": "payments"})
    assert again.status_code == 404 and "no grant of harbor-payments to prod-eu" in again.text


def test_access_is_given_and_removed(web: Web) -> None:
    web.sign_in("admin")
    page = web.client.get("/ui/environments/prod-eu").text
    assert "Give access" in page and '<label for="a-role">' in page
    answer = web.client.post("/ui/environments/prod-eu/access", follow_redirects=False, data={
        CSRF_FIELD: web.csrf(), "grantee": "user:tools-dev", "role": "team-member"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("#access")
    assert ("tools-dev", None, "team-member") in _access(web, "prod-eu")
    removed = web.client.post("/ui/environments/prod-eu/access/delete", follow_redirects=False, data={
        CSRF_FIELD: web.csrf(), "grantee": "team:web", "role": "team-member"})
    assert removed.status_code == 303
    assert (None, "web", "team-member") not in _access(web, "prod-eu")
    assert [a[0] for a in changes(web.hm)][-2:] == ["access.add", "access.remove"]


def test_refused_access_is_explained_inline(web: Web) -> None:
    web.sign_in("admin")
    before = changes(web.hm)
    unknown = web.client.post("/ui/environments/prod-eu/access", data={
        CSRF_FIELD: web.csrf(), "grantee": "user:nobody", "role": "team-member"})
    assert unknown.status_code == 422
    form = unknown.text.split('id="access-add"', 1)[1].split("</form>", 1)[0]
    assert 'id="access-problems"' in form and "nobody" in form
    bad_role = web.client.post("/ui/environments/prod-eu/access", data={
        CSRF_FIELD: web.csrf(), "grantee": "user:tools-dev", "role": "emperor"})
    assert bad_role.status_code == 422 and "role must be one of" in bad_role.text
    assert changes(web.hm) == before


_FORMS = {
    "/ui/environments/prod-eu/grants": {"registry": "harbor-web", "namespace": "payments"},
    "/ui/environments/prod-eu/grants/delete": {"registry": "harbor-payments", "namespace": "payments"},
    "/ui/environments/prod-eu/access": {"grantee": "user:tools-dev", "role": "team-member"},
    "/ui/environments/prod-eu/access/delete": {"grantee": "team:web", "role": "team-member"},
}


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_each_role_sees_the_grant_forms_only_when_it_may_use_them(web: Web, role: Role) -> None:
    web.sign_in(ROLE_USERS[role])
    page = web.client.get("/ui/environments/prod-eu").text
    may = role in PERMISSIONS[Permission.GOVERNANCE_WRITE]
    for action in _FORMS:
        assert (f'action="{action}"' in page) == may, action
    assert ("Grant a registry" in page) == may and ("Give access" in page) == may
    if may:
        return
    before = changes(web.hm)
    for action, fields in _FORMS.items():
        answer = web.client.post(action, data={CSRF_FIELD: web.csrf(), **fields})
        assert answer.status_code == 403, action
        assert f"may not {Permission.GOVERNANCE_WRITE.value}" in answer.text
    assert changes(web.hm) == before


@pytest.mark.parametrize("presented", [None, "forged-token"])
def test_every_grant_form_refuses_a_missing_or_wrong_csrf_token(web: Web, presented: str | None) -> None:
    web.sign_in("admin")
    assert set(_FORMS) <= _post_forms(web)
    before = changes(web.hm)
    for action, fields in _FORMS.items():
        data = dict(fields) if presented is None else {CSRF_FIELD: presented, **fields}
        answer = web.client.post(action, data=data)
        assert answer.status_code == 403, action
        assert "CSRF token is missing or out of date" in answer.text
    assert changes(web.hm) == before


def test_each_grant_action_requires_what_the_api_route_requires() -> None:
    ui, api = route_permissions(grants.router), route_permissions(api_grants.router)
    for page, route in {"/ui/environments/{name}/grants": "/grants",
                        "/ui/environments/{name}/grants/delete": "/grants/delete",
                        "/ui/environments/{name}/access": "/access",
                        "/ui/environments/{name}/access/delete": "/access/delete"}.items():
        assert ui[("POST", page)] is api[("POST", route)], page


def test_a_docker_grant_to_someone_without_access_is_refused_with_the_rule(web: Web) -> None:
    web.sign_in("admin")
    before = changes(web.hm)
    answer = web.client.post("/ui/environments/dev-docker/grants",
                             data={CSRF_FIELD: web.csrf(), "registry": "dev-local",
                                   "grantee": "user:platform"})
    assert answer.status_code == 422
    assert ("user platform has no access to environment dev-docker; on docker-standalone and swarm "
            "environments registry access can only be granted to identities that already have access"
            ) in answer.text
    assert '<option value="user:platform" selected>' in answer.text
    assert changes(web.hm) == before
