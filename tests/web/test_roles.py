"""Roles exactly as in the API: each role sees the links and actions its role may use, no other, and a
forced request for one it may not use is refused with 403 and changes nothing."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from harbourmaster.domain.authz import PERMISSIONS, Permission, Principal, require
from harbourmaster.domain.model import Role
from harbourmaster.errors import Forbidden
from harbourmaster.web import (
    artifacts,
    assessment,
    audit,
    auth,
    decisions,
    environments,
    jobs,
    overview,
    registries,
    vulns,
)
from harbourmaster.web.pages import NAVIGATION, Viewer
from harbourmaster.web.registries import TEST_PERMISSION
from harbourmaster.web.sessions import CSRF_FIELD, Session
from tests.web.conftest import ROLE_USERS, Web, changes, csrf_of

_LINK = re.compile(r'<a\b[^>]*\bhref="(/ui/[^"#]*)"')
_NAV = re.compile(r'<nav aria-label="Main">(.*?)</nav>', re.DOTALL)


def crawl(web: Web, start: str = "/ui/") -> dict[str, str]:
    """Every page reachable by links from ``start`` as the signed-in user: path → HTML.  Every link
    must lead to a page that answers 200 (a link the role may not use is not shown)."""
    pages: dict[str, str] = {}
    seen: set[str] = set()
    todo = [start]
    while todo:
        path = todo.pop()
        if path in seen or path.startswith("/ui/static/"):
            continue
        seen.add(path)
        answer = web.client.get(path)
        assert answer.status_code == 200, f"{path}: {answer.status_code}"
        if answer.headers.get("content-disposition", "").startswith("attachment"):
            continue  # a download (opened, but not a page): the tests of its page read it
        pages[path] = answer.text
        todo.extend(link for link in _LINK.findall(answer.text) if link not in seen)
    return pages


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_each_role_sees_the_navigation_its_permissions_allow(web: Web, role: Role) -> None:
    web.sign_in(ROLE_USERS[role])
    nav = _NAV.search(web.client.get("/ui/").text)
    assert nav is not None
    for page in NAVIGATION:
        shown = f'href="{page.path}"' in nav.group(1)
        assert shown == (role in PERMISSIONS[page.permission]), page.title


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_each_role_sees_test_connection_only_when_it_may_probe(web: Web, role: Role) -> None:
    web.sign_in(ROLE_USERS[role])
    page = web.client.get("/ui/registries").text
    may = role in PERMISSIONS[TEST_PERMISSION]
    assert ("Test connection" in page) == may
    assert ('action="/ui/registries/harbor-payments/test"' in page) == may


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_every_link_a_role_is_shown_opens(web: Web, role: Role) -> None:
    web.sign_in(ROLE_USERS[role])
    pages = crawl(web)
    assert {"/ui/", "/ui/registries", "/ui/environments", "/ui/environments/prod-eu"} <= set(pages)


@pytest.mark.parametrize("role", [r for r in ROLE_USERS if r not in PERMISSIONS[Permission.REGISTRY_PROBE]])
def test_a_forced_test_connection_is_refused_and_changes_nothing(web: Web, role: Role) -> None:
    web.sign_in(ROLE_USERS[role])
    before = changes(web.hm)
    answer = web.client.post("/ui/registries/harbor-payments/test", data={CSRF_FIELD: web.csrf()})
    assert answer.status_code == 403
    assert "Not allowed" in answer.text
    assert f"may not {Permission.REGISTRY_PROBE.value}" in answer.text
    assert changes(web.hm) == before


@pytest.mark.parametrize("role", [r for r in ROLE_USERS if r in PERMISSIONS[Permission.REGISTRY_PROBE]])
def test_a_role_that_may_probe_tests_a_connection_with_its_explained_result(web: Web, role: Role) -> None:
    web.sign_in(ROLE_USERS[role])
    answer = web.client.post("/ui/registries/harbor-payments/test", data={CSRF_FIELD: web.csrf()})
    assert answer.status_code == 200
    assert "Connection test of harbor-payments: passed" in answer.text
    assert ("registry.test", "harbor-payments", "ok") in changes(web.hm)


def test_a_failed_test_connection_says_why(web: Web) -> None:
    web.sign_in("admin")
    answer = web.client.post("/ui/registries/harbor-web/test", data={CSRF_FIELD: web.csrf()})
    assert answer.status_code == 200
    assert "Connection test of harbor-web: failed" in answer.text
    assert "Why it failed" in answer.text
    assert ("registry.test", "harbor-web", "failed") in changes(web.hm)


def test_every_page_refuses_a_visitor_who_is_not_signed_in(web: Web) -> None:
    for path in ("/ui/", "/ui/registries", "/ui/environments", "/ui/environments/prod-eu"):
        answer = web.client.get(path)
        assert answer.status_code == 401, path
        assert 'name="token"' in answer.text
        assert "prod-eu" not in answer.text.replace("/ui/environments/prod-eu", "")
    before = changes(web.hm)
    token = csrf_of(web.client.get("/ui/sign-in").text)
    assert web.client.post("/ui/registries/harbor-payments/test", data={CSRF_FIELD: token}).status_code == 401
    assert changes(web.hm) == before


@pytest.mark.parametrize("role", list(Role))
def test_what_a_viewer_is_shown_is_what_the_services_allow(role: Role) -> None:
    viewer = Viewer(session=Session.new(), principal=Principal("someone", role))
    for permission in Permission:
        try:
            require(Principal("someone", role), permission)
            allowed = True
        except Forbidden:
            allowed = False
        assert viewer.can(permission) == allowed, permission
    assert not Viewer(session=Session.new()).can(Permission.GOVERNANCE_READ)


def test_each_page_handler_requires_the_permission_its_link_is_shown_for() -> None:
    required = {}
    for module in (auth, overview, registries, environments, jobs, audit, assessment,
                   decisions, vulns, artifacts):
        for route in module.router.routes:
            assert isinstance(route, APIRoute)
            for dependency in route.dependant.dependencies:
                permission = getattr(dependency.call, "permission", None)
                if permission is not None:
                    required[(route.path, frozenset(route.methods or ()))] = permission
    for page in NAVIGATION:
        assert required[(page.path, frozenset({"GET"}))] is page.permission, page.title
    assert required[("/ui/registries/{name}/test", frozenset({"POST"}))] is TEST_PERMISSION
