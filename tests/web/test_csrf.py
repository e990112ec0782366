"""Every form carries the session's CSRF token, and every POST without it (or with another) is refused
with 403 and changes nothing."""

from __future__ import annotations

import re

import pytest

from harbourmaster.web.sessions import COOKIE, CSRF_FIELD
from tests.web.conftest import Web, audit_actions, changes, csrf_of
from tests.web.test_roles import crawl

_FORM = re.compile(r'<form\b[^>]*\bmethod="post"[^>]*\baction="([^"]+)"', re.IGNORECASE)


def _post_forms(web: Web) -> set[str]:
    """The action of every POST form on every page an administrator reaches (the sign-in form too)."""
    pages = crawl(web)
    actions = {a for html in pages.values() for a in _FORM.findall(html)}
    return actions | set(_FORM.findall(web.client.get("/ui/sign-in").text))


def test_every_form_carries_the_session_csrf_token(web: Web) -> None:
    web.sign_in("admin")
    token = web.csrf()
    for path, html in crawl(web).items():
        forms = re.findall(r"<form\b.*?</form>", html, re.DOTALL)
        for form in forms:
            # A GET form (a filter) changes nothing, and its fields land in the URL: never the token.
            posts = re.match(r'<form\b[^>]*\bmethod="post"', form, re.IGNORECASE) is not None
            assert (f'name="{CSRF_FIELD}" value="{token}"' in form) == posts, path


def test_the_crawl_finds_the_forms_of_this_ui(web: Web) -> None:
    web.sign_in("admin")
    actions = _post_forms(web)
    assert {"/ui/sign-in", "/ui/sign-out", "/ui/registries/harbor-payments/test"} <= actions


@pytest.mark.parametrize("presented", [None, "", "forged-token", "CSRF"])
def test_every_post_without_the_right_csrf_token_is_refused_and_changes_nothing(web: Web,
                                                                               presented: str | None) -> None:
    web.sign_in("admin")
    actions = _post_forms(web)
    for action in sorted(actions):
        before = changes(web.hm)
        cookie = web.client.cookies[COOKIE]
        data = {"token": web.tokens["admin"]}
        if presented is not None:
            data[CSRF_FIELD] = web.csrf() + "x" if presented == "CSRF" else presented
        answer = web.client.post(action, data=data, follow_redirects=False)
        assert answer.status_code == 403, action
        assert "CSRF token is missing or out of date" in answer.text
        assert changes(web.hm) == before, action
        # Still the same session, still signed in (sign-out did not happen; sign-in did not replace it).
        assert web.client.cookies[COOKIE] == cookie
        assert web.client.get("/ui/").status_code == 200


def test_a_csrf_token_of_another_session_is_refused(web: Web) -> None:
    web.sign_in("admin")
    theirs = web.csrf()
    web.sign_in("platform")
    before = changes(web.hm)
    answer = web.client.post("/ui/registries/harbor-payments/test", data={CSRF_FIELD: theirs})
    assert answer.status_code == 403
    assert changes(web.hm) == before


def test_the_csrf_token_is_checked_before_the_form_is_used(web: Web) -> None:
    token = web.issue("admin")
    web.client.get("/ui/sign-in")
    answer = web.client.post("/ui/sign-in", data={"token": token}, follow_redirects=False)
    assert answer.status_code == 403
    # The token was not even tried: no use of it was recorded.
    assert ("token.use", f"token {web.token_ids['admin']}", "ok") not in audit_actions(web.hm)


def test_a_form_that_is_not_url_encoded_or_too_large_is_refused(web: Web) -> None:
    web.sign_in("admin")
    token = web.csrf()
    before = changes(web.hm)
    as_json = web.client.post("/ui/registries/harbor-payments/test", json={CSRF_FIELD: token})
    assert as_json.status_code == 415
    large = web.client.post("/ui/registries/harbor-payments/test",
                            data={CSRF_FIELD: token, "padding": "x" * 70_000})
    assert large.status_code == 413
    assert changes(web.hm) == before
    assert csrf_of(web.client.get("/ui/registries").text) == token
