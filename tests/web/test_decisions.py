"""The decisions explorer: pasted or uploaded content is checked by the service the API uses, every
image's verdict shown with its three parts and their reasons, allowed and denied said in words; the
service's refusal is shown; the form is bounded and refuses a missing CSRF token."""

from __future__ import annotations

import re

import httpx
import pytest

from harbourmaster.domain.authz import PERMISSIONS, Permission
from harbourmaster.domain.model import Role
from harbourmaster.web.pages import DECISIONS
from harbourmaster.web.sessions import CSRF_FIELD
from harbourmaster.web.uploads import UPLOAD_LIMIT
from tests.fakes.registry import FakeRegistry
from tests.web.conftest import CANARIES, ROLE_USERS, Web, changes

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: payments}
spec:
  template:
    spec:
      containers:
        - name: api
          image: harbor.corp/payments/api:1.4
        - name: proxy
          image: docker.io/library/nginx:1.27
"""


def _check(web: Web, *, content: str = MANIFEST, environment: str = "staging-k8s",
           namespace: str = "payments", files: dict[str, tuple[str, bytes, str]] | None = None,
           token: str | None = None) -> httpx.Response:
    data = {CSRF_FIELD: web.csrf(DECISIONS.path) if token is None else token, "environment": environment,
            "namespace": namespace, "user": "", "content": content}
    return web.client.post(DECISIONS.path, data=data, files=files)


def _verdict(html: str, image: str) -> str:
    """The section of the verdict on ``image``."""
    sections = re.findall(r'<section class="verdict".*?</section>', html, re.DOTALL)
    found = [s for s in sections if re.search(rf"</span>\s*{re.escape(image)}\s*</h3>", s)]
    assert len(found) == 1, image
    return found[0]


def test_a_pasted_manifest_shows_each_verdict_with_its_parts_and_the_denied_reason(
    web: Web, harbor: FakeRegistry
) -> None:
    digest = harbor.push("payments/api", "1.4")
    web.sign_in("payments-dev")
    answer = _check(web)
    assert answer.status_code == 200
    html = answer.text
    assert "1 of 2 images denied" in html
    allowed = _verdict(html, "harbor.corp/payments/api:1.4")
    assert ">Allowed</span>" in allowed and ">Denied</span>" not in allowed
    for part in ("Source", "Vulnerabilities", "Signature"):
        assert f'<th scope="row">{part}</th>' in allowed
    assert f'href="/ui/artifacts/{digest}"' in allowed
    denied = _verdict(html, "docker.io/library/nginx:1.27")
    assert ">Denied</span>" in denied
    # The source part says why, in words (not only by colour).
    assert ">denies</span>" in denied
    assert "no approved registry matches docker.io/library/nginx" in denied
    # Audited as the API's check is.
    assert any(a == "decision" and target.startswith("staging-k8s/") for a, target, _ in changes(web.hm))


def test_an_uploaded_file_is_checked_like_pasted_content(web: Web) -> None:
    web.sign_in("admin")
    answer = _check(web, content="", files={"file": ("deploy.yaml", MANIFEST.encode(), "application/yaml")})
    assert answer.status_code == 200
    assert "upload deploy.yaml" in answer.text
    assert ">Denied</span>" in _verdict(answer.text, "docker.io/library/nginx:1.27")


def test_content_given_twice_or_not_at_all_is_bad_input_beside_the_form(web: Web) -> None:
    web.sign_in("admin")
    both = _check(web, files={"file": ("deploy.yaml", MANIFEST.encode(), "application/yaml")})
    assert both.status_code == 422 and "paste it or upload a file, not both" in both.text
    neither = _check(web, content="  ")
    assert neither.status_code == 422 and "paste a Kubernetes manifest" in neither.text
    assert 'name="content"' in neither.text  # the form is still there


def test_a_team_member_may_not_check_an_environment_it_has_no_access_to(web: Web) -> None:
    web.sign_in("tools-dev")
    before = changes(web.hm)
    answer = _check(web)
    assert answer.status_code == 403
    assert "Not checked" in answer.text
    assert "staging-k8s" in answer.text
    assert "Verdicts" not in answer.text
    assert [c for c in changes(web.hm) if c[0] == "decision"] == [c for c in before if c[0] == "decision"]


def test_a_namespace_the_environment_does_not_have_is_named(web: Web) -> None:
    web.sign_in("admin")
    answer = _check(web, namespace="paymnts")
    assert answer.status_code == 404
    assert "namespace paymnts is not a namespace of environment staging-k8s" in answer.text


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_the_explorer_is_shown_and_usable_only_by_roles_that_may_check(web: Web, role: Role) -> None:
    web.sign_in(ROLE_USERS[role])
    may = role in PERMISSIONS[Permission.DECISION_CHECK]
    assert (f'href="{DECISIONS.path}"' in web.client.get("/ui/").text) == may
    assert web.client.get(DECISIONS.path).status_code == (200 if may else 403)
    before = changes(web.hm)
    forced = _check(web, token=web.csrf())
    if not may:
        assert forced.status_code == 403
        assert f"may not {Permission.DECISION_CHECK.value}" in forced.text
        assert changes(web.hm) == before


@pytest.mark.parametrize("presented", [None, "", "forged"])
def test_the_check_refuses_a_missing_or_wrong_csrf_token(web: Web, presented: str | None) -> None:
    web.sign_in("admin")
    before = changes(web.hm)
    data = {"environment": "staging-k8s", "namespace": "payments", "content": MANIFEST}
    if presented is not None:
        data[CSRF_FIELD] = presented
    as_upload = web.client.post(DECISIONS.path, data=data,
                                files={"file": ("deploy.yaml", MANIFEST.encode(), "application/yaml")})
    as_form = web.client.post(DECISIONS.path, data=data)
    for answer in (as_upload, as_form):
        assert answer.status_code == 403
        assert "CSRF token is missing or out of date" in answer.text
    assert changes(web.hm) == before


def test_an_upload_over_the_limit_or_of_another_type_is_refused(web: Web) -> None:
    web.sign_in("admin")
    token = web.csrf(DECISIONS.path)
    large = web.client.post(DECISIONS.path, data={CSRF_FIELD: token, "environment": "staging-k8s"},
                            files={"file": ("big.yaml", b"#" * (UPLOAD_LIMIT + 1), "application/yaml")})
    assert large.status_code == 413
    as_json = web.client.post(DECISIONS.path, json={CSRF_FIELD: token})
    assert as_json.status_code == 415


def test_no_canary_secret_appears_on_the_explorer(web: Web, harbor: FakeRegistry) -> None:
    harbor.push("payments/api", "1.4")
    web.sign_in("admin")
    pages = [web.client.get(DECISIONS.path).text, _check(web).text]
    for html in pages:
        for canary in CANARIES.values():
            assert canary not in html
