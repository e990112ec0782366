"""The robot accounts page of a managed Harbor: the list after a sync, "Sync with Harbor" and its preview,
"Rotate" (replace or refresh in place) with its explained result, refusals, CSRF, roles, and no secret
on any page.

Harbor is the local HTTP stand-in of its v2.0 API (:mod:`tests.harbor_standin`), without a registry
behind it: these tests only manage its robot accounts, they do not pull with them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute

from harbourmaster.domain.authz import PERMISSIONS, Permission
from harbourmaster.domain.harbor import PULL_ROBOT, PUSH_ROBOT
from harbourmaster.domain.model import Role
from harbourmaster.registry.factory import HttpxClientFactory
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.harbor_sync import harbor_sync
from harbourmaster.web import robots
from harbourmaster.web.sessions import CSRF_FIELD
from tests.fakes.clock import FixedClock
from tests.harbor_standin import HarborStandIn
from tests.services.unit._example import ADMIN
from tests.web.conftest import CANARIES, ROLE_USERS, Web, changes

ADMIN_PASSWORD = "canary-harbor-admin-web-6Tn3Rz8Q"
REGISTRY = "harbor-managed"
PAGE = f"/ui/registries/{REGISTRY}/robots"

MANAGED = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: harbor-managed
    provider: harbor
    url: http://{host}
    scope: payments
    tls: {{insecure: true}}
    credential: {{kind: user, username: admin, secret: env:HM_TEST_HARBOR_ADMIN}}
    manage: true
    management:
      robot_lifetime_days: 90
      rotate_at: 0.5
      alert_days: 14
      robots:
        - {{name: ci, access: push, lifetime_days: 30, description: CI pushes}}
tiers:
  production: {{block_severity: high, require_signature: true}}
  development: {{block_severity: critical, advisory_severity: medium}}
"""

_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def text_of(html: str) -> str:
    """A page's text, tags removed and white space collapsed (for asserting on sentences)."""
    return _SPACE.sub(" ", _TAGS.sub(" ", html)).replace(" .", ".").replace(" ,", ",")


def rows(html: str) -> dict[str, list[str]]:
    """The robots table: each row's cells' text by the Harbor account name."""
    table = html.split('aria-labelledby="robots"', 1)[1].split("</table>", 1)[0]
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], re.DOTALL):
        cells = [text_of(c).strip() for c in re.findall(r"<t[hd]\b[^>]*>(.*?)</t[hd]>", row, re.DOTALL)]
        out[cells[1]] = cells
    return out


@pytest.fixture
def standin() -> Iterator[HarborStandIn]:
    with HarborStandIn(admin_password=ADMIN_PASSWORD) as harbor:
        yield harbor


@pytest.fixture
def core(core: Harbourmaster, standin: HarborStandIn, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
         ) -> Harbourmaster:
    """The web tests' core (the example model, canaries in its secrets) with a managed Harbor added: the
    stand-in, reached over real HTTP (the other registries' fakes are not needed here)."""
    monkeypatch.setenv("HM_TEST_HARBOR_ADMIN", ADMIN_PASSWORD)
    standin.clock = lambda: clock.now().timestamp()
    core.registry_clients = HttpxClientFactory()
    apply_document(core, ADMIN, MANAGED.format(host=standin.host), source="managed.yaml",
                   host=core.host_files())
    return core


def post(web: Web, action: str, **fields: str) -> str:
    """Post one of the page's forms (with the page's CSRF token); its answer's HTML (asserted 200)."""
    answer = web.client.post(f"{PAGE}/{action}", data={CSRF_FIELD: web.csrf(PAGE), **fields})
    assert answer.status_code == 200, answer.text
    text: str = answer.text
    return text


def post_to(web: Web, path: str, **fields: str) -> str:
    answer = web.client.post(path, data={CSRF_FIELD: web.csrf(), **fields})
    assert answer.status_code == 200, answer.text
    text: str = answer.text
    return text


def test_the_robots_are_listed_after_a_sync_with_permission_generation_state_and_expiry(
        web: Web, standin: HarborStandIn) -> None:
    harbor_sync(web.hm, ADMIN, REGISTRY)
    web.sign_in("platform")
    answer = web.client.get(PAGE)
    assert answer.status_code == 200
    table = rows(answer.text)
    assert set(table) == {"robot$payments+harbourmaster-pull-1", "robot$payments+harbourmaster-push-1",
                          "robot$payments+ci-1"}
    name, _, access, generation, state, rotated, expiry, due, _ = table["robot$payments+ci-1"]
    assert (name, access, generation, state) == ("ci", "push", "1", "active")
    assert rotated == "2026-06-01"
    assert expiry == "2026-07-01 expires in 30 days"
    assert due == "2026-06-16"
    pull = table["robot$payments+harbourmaster-pull-1"]
    assert pull[0] == PULL_ROBOT and pull[2] == "pull" and "expires in 90 days" in pull[6]
    assert table["robot$payments+harbourmaster-push-1"][2] == "push"
    page = text_of(answer.text)
    assert "Harbor project payments" in page
    assert "Sync with Harbor" in page and "Preview" in page


def test_expiry_is_counted_down_and_an_expired_robot_says_so(web: Web, clock: FixedClock) -> None:
    harbor_sync(web.hm, ADMIN, REGISTRY)
    clock.advance(dt.timedelta(days=29))
    web.sign_in("auditor")  # a session ends after an hour unused: signed in after the clock moved
    ci = rows(web.client.get(PAGE).text)["robot$payments+ci-1"]
    assert ci[6].endswith("expires in 1 day") and ci[7] == "due now"
    clock.advance(dt.timedelta(days=2))
    web.sign_in("auditor")
    assert rows(web.client.get(PAGE).text)["robot$payments+ci-1"][6].endswith("expired")


def test_sync_from_the_page_preview_changes_nothing_then_sync_creates_the_robots(
        web: Web, standin: HarborStandIn) -> None:
    web.sign_in("platform")
    before = text_of(web.client.get(PAGE).text)
    assert "No robot account has been issued yet" in before
    assert f"Not issued yet: {PULL_ROBOT}, {PUSH_ROBOT}, ci" in before

    preview = text_of(post(web, "sync", dry_run="yes"))
    assert "Preview of the sync: would change 4 things" in preview
    assert "A preview: nothing was changed" in preview
    assert "create robot ci: missing" in preview and "create project payments: missing" in preview
    assert standin.robots == {} and standin.projects == {}

    done = post(web, "sync", dry_run="no")
    assert "Sync with Harbor: changed 4 things" in text_of(done)
    assert len(rows(done)) == 3, "the answer lists the robots as they now are"
    assert len(standin.robots) == 3
    assert ("harbor.sync", REGISTRY, "ok") in changes(web.hm)

    again = text_of(post(web, "sync", dry_run="no"))
    assert "Sync with Harbor: nothing to do" in again


def test_rotate_from_the_page_shows_the_next_generation(web: Web, standin: HarborStandIn) -> None:
    harbor_sync(web.hm, ADMIN, REGISTRY)
    web.sign_in("admin")
    answer = post(web, "rotate", robot="ci")
    page = text_of(answer)
    assert "Rotation of ci: done" in page
    assert "ci was rotated: its new generation is robot$payments+ci-2" in page
    assert "the previous one keeps working until" in page
    table = rows(answer)
    assert table["robot$payments+ci-2"][3:5] == ["2", "active"]
    assert table["robot$payments+ci-1"][3] == "1" and table["robot$payments+ci-1"][4].startswith("retiring")
    assert "Rotate" not in table["robot$payments+ci-1"][8], "a retiring generation is not rotated again"
    assert ("credential.rotate", REGISTRY, "ok") in changes(web.hm)
    # The page read again shows the same.
    assert rows(web.client.get(PAGE).text)["robot$payments+ci-2"][4] == "active"


def test_refresh_in_place_keeps_the_generation_and_account(web: Web, standin: HarborStandIn,
                                                           clock: FixedClock) -> None:
    harbor_sync(web.hm, ADMIN, REGISTRY)
    (before,) = [r for r in standin.robots.values() if r.name.endswith("+ci-1")]
    old_secret = before.secret
    clock.advance(dt.timedelta(days=3))
    web.sign_in("admin")  # a session ends after an hour unused: signed in after the clock moved
    answer = post(web, "rotate", robot="ci", refresh="on")
    page = text_of(answer)
    assert "Refresh of ci: done" in page
    assert "ci's secret was refreshed in place: account robot$payments+ci-1 has a new secret" in page
    assert before.secret != old_secret
    ci = rows(answer)["robot$payments+ci-1"]
    assert ci[3:5] == ["1", "active"] and ci[5] == "2026-06-04"
    assert "robot$payments+ci-2" not in answer


def test_a_rotation_harbor_refuses_shows_why_and_keeps_the_secret(web: Web, standin: HarborStandIn) -> None:
    harbor_sync(web.hm, ADMIN, REGISTRY)
    standin.admin_password = "changed-behind-harbourmasters-back"
    web.sign_in("admin")
    answer = post(web, "rotate", robot=PULL_ROBOT)
    page = text_of(answer)
    assert f"Rotation of {PULL_ROBOT}: refused" in page
    assert f"Harbor refused the rotation of {PULL_ROBOT}" in page
    assert "Harbor answered 401" in page
    assert "Its current secret (robot$payments+harbourmaster-pull-1) was kept and still works" in page
    pull = rows(answer)["robot$payments+harbourmaster-pull-1"]
    assert pull[4].startswith("active Last rotation failed") and "Harbor answered 401" in pull[4]
    assert ADMIN_PASSWORD not in answer and "changed-behind" not in answer
    assert ("credential.rotate", REGISTRY, "failed") in changes(web.hm)


def test_a_rotation_the_rules_refuse_says_why(web: Web) -> None:
    web.sign_in("admin")
    page = text_of(post(web, "rotate", robot="ci"))  # nothing issued yet
    assert "Rotation of ci: refused" in page
    assert f"run: harbourmaster harbor sync --registry {REGISTRY}" in page
    page = text_of(post(web, "rotate", robot="nightly"))
    assert f"registry {REGISTRY} has no robot nightly" in page


def test_a_sync_harbor_refuses_says_why(web: Web, standin: HarborStandIn) -> None:
    standin.admin_password = "changed"
    web.sign_in("platform")
    page = text_of(post(web, "sync", dry_run="no"))
    assert "Sync with Harbor: refused" in page and "The sync of harbor-managed was refused" in page
    assert ("harbor.sync", REGISTRY, "failed") in changes(web.hm)


def test_forms_without_the_csrf_token_are_refused_and_change_nothing(web: Web, standin: HarborStandIn
                                                                       ) -> None:
    harbor_sync(web.hm, ADMIN, REGISTRY)
    web.sign_in("admin")
    web.client.get(PAGE)
    before, robots_before = changes(web.hm), dict(standin.robots)
    for action, fields in (("sync", {"dry_run": "no"}), ("rotate", {"robot": "ci"})):
        for token in ({}, {CSRF_FIELD: "not-the-token"}):
            answer = web.client.post(f"{PAGE}/{action}", data={**fields, **token})
            assert answer.status_code == 403, (action, token)
            assert "CSRF token is missing or out of date" in answer.text
    assert changes(web.hm) == before and standin.robots == robots_before


@pytest.mark.parametrize("role", [r for r in ROLE_USERS if r not in PERMISSIONS[Permission.GOVERNANCE_WRITE]])
def test_a_role_that_may_not_change_the_model_sees_no_button_and_a_forced_post_is_refused(
        web: Web, standin: HarborStandIn, role: Role) -> None:
    harbor_sync(web.hm, ADMIN, REGISTRY)
    web.sign_in(ROLE_USERS[role])
    page = web.client.get(PAGE)
    assert page.status_code == 200
    assert len(rows(page.text)) == 3, "the list is governance data every role reads"
    assert "<form" not in page.text.replace('action="/ui/sign-out"', "").split("</header>", 1)[1]
    assert "Sync with Harbor</button>" not in page.text and "Rotate<" not in page.text
    before, robots_before = changes(web.hm), dict(standin.robots)
    for action, fields in (("sync", {"dry_run": "no"}), ("sync", {"dry_run": "yes"}),
                           ("rotate", {"robot": "ci"}), ("rotate", {"robot": "ci", "refresh": "on"})):
        answer = web.client.post(f"{PAGE}/{action}", data={CSRF_FIELD: web.csrf(), **fields})
        assert answer.status_code == 403, action
        assert f"may not {Permission.GOVERNANCE_WRITE.value}" in answer.text
    assert changes(web.hm) == before and standin.robots == robots_before


def test_each_handler_requires_the_permission_its_buttons_are_shown_for() -> None:
    required = {}
    for route in robots.router.routes:
        assert isinstance(route, APIRoute)
        for dependency in route.dependant.dependencies:
            permission = getattr(dependency.call, "permission", None)
            if permission is not None:
                required[route.path] = permission
    assert required == {
        "/ui/registries/{name}/robots": Permission.GOVERNANCE_READ,
        "/ui/registries/{name}/robots/sync": robots.SYNC_PERMISSION,
        "/ui/registries/{name}/robots/rotate": robots.ROTATE_PERMISSION,
    }
    assert robots.SYNC_PERMISSION is robots.ROTATE_PERMISSION is Permission.GOVERNANCE_WRITE


def test_a_registry_that_is_not_managed_says_how_to_manage_it(web: Web) -> None:
    web.sign_in("platform")
    answer = web.client.get("/ui/registries/harbor-payments/robots")
    assert answer.status_code == 200
    page = text_of(answer.text)
    assert "harbor-payments is not a managed Harbor registry" in page
    assert "manage: true" in page and "harbourmaster harbor sync --registry harbor-payments" in page
    assert "<table" not in answer.text and "Sync with Harbor</button>" not in answer.text
    other = text_of(web.client.get("/ui/registries/ecr-prod/robots").text)
    assert "provider: harbor (its provider is ecr" in other
    refused = text_of(post_to(web, "/ui/registries/harbor-payments/robots/sync", dry_run="no"))
    assert "Sync with Harbor: refused" in refused and "is not a managed Harbor" in refused


def test_an_unknown_registry_is_not_found(web: Web) -> None:
    web.sign_in("admin")
    answer = web.client.get("/ui/registries/no-such-registry/robots")
    assert answer.status_code == 404
    assert "Not found" in answer.text and "registry no-such-registry is not defined" in answer.text
    posted = web.client.post("/ui/registries/no-such-registry/robots/rotate",
                             data={CSRF_FIELD: web.csrf(), "robot": "ci"})
    assert posted.status_code == 404


def test_the_registries_page_links_each_managed_registry_to_its_robots_for_every_role(web: Web) -> None:
    for user in ("admin", "auditor", "payments-dev"):
        web.sign_in(user)
        page = web.client.get("/ui/registries").text
        assert f'href="{PAGE}"' in page, user  # managed: its robot accounts, for whoever reads the list
        assert 'href="/ui/registries/ecr-prod/robots"' not in page
        # An unmanaged Harbor: how to manage it, for those who may change the model (and probe) only.
        unmanaged = 'href="/ui/registries/harbor-payments/robots"' in page
        assert unmanaged == (user == "admin"), user


def test_no_robot_secret_nor_the_harbor_password_appears_on_any_page(web: Web, standin: HarborStandIn
                                                                       ) -> None:
    web.sign_in("admin")
    pages = [post(web, "sync", dry_run="yes"), post(web, "sync", dry_run="no"),
             post(web, "rotate", robot="ci"), post(web, "rotate", robot=PULL_ROBOT, refresh="on"),
             post(web, "sync", dry_run="no"), web.client.get(PAGE).text,
             web.client.get("/ui/registries").text]
    for user in ("platform", "auditor", "payments-dev"):
        web.sign_in(user)
        pages.append(web.client.get(PAGE).text)
    standin.admin_password = "changed"
    web.sign_in("admin")
    pages.append(post(web, "rotate", robot=PUSH_ROBOT))
    assert len(standin.issued_secrets) >= 5
    secrets = {ADMIN_PASSWORD, *standin.issued_secrets, *CANARIES.values()}
    for html in pages:
        for secret in secrets:
            assert secret not in html
