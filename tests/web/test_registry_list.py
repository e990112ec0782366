"""The registry list at scale: a filter, pages, and each registry's last connection test."""

from __future__ import annotations

import datetime as dt
import re

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.services import governance, governance_reads
from harbourmaster.web.registries import PAGE_SIZE
from harbourmaster.web.sessions import CSRF_FIELD
from tests.fakes.clock import FixedClock
from tests.web.conftest import Web


def _rows(html: str) -> list[str]:
    return re.findall(r'<th scope="row">([^<\s]+)', html)


def _add(web: Web, n: int) -> list[str]:
    admin = Principal("admin", Role.ADMINISTRATOR)
    names = [f"bulk-{i:03d}" for i in range(n)]
    for name in names:
        governance.put_registry(web.hm, admin, name=name, create=True, fields={
            "provider": "custom", "url": f"https://r{name[-3:]}.example", "scope": "team"})
    return names


def test_the_list_is_paged_and_each_page_links_the_next(web: Web) -> None:
    names = _add(web, PAGE_SIZE + 5)
    web.sign_in("auditor")
    total = len(governance_reads.list_registries(web.hm, Principal("auditor", Role.AUDITOR)))
    first = web.client.get("/ui/registries")
    assert first.status_code == 200
    assert len(_rows(first.text)) == PAGE_SIZE
    assert f"{total} registries; page 1 of 2." in first.text
    assert 'href="/ui/registries?page=2" rel="next"' in first.text and 'rel="prev"' not in first.text
    second = web.client.get("/ui/registries?page=2")
    shown = _rows(first.text) + _rows(second.text)
    assert len(shown) == total and len(set(shown)) == total and set(names) <= set(shown)
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    beyond = web.client.get("/ui/registries?page=99")  # past the end: the last page
    assert _rows(beyond.text) == _rows(second.text)
    assert web.client.get("/ui/registries?page=0").status_code == 422
    assert web.client.get("/ui/registries?size=501").status_code == 422


def test_the_filter_matches_every_word_in_name_provider_host_or_scope(web: Web) -> None:
    _add(web, 12)
    web.sign_in("auditor")
    page = web.client.get("/ui/registries", params={"q": "BULK-01 custom"}).text
    assert _rows(page) == [f"bulk-01{i}" for i in range(2)]
    assert "2 of " in page and "registries match" in page
    by_host = web.client.get("/ui/registries", params={"q": "r005.example"}).text
    assert _rows(by_host) == ["bulk-005"]
    none = web.client.get("/ui/registries", params={"q": "<script>nothing"}).text
    assert "No registry matches this filter." in none and "<script>nothing" not in none
    paged = web.client.get("/ui/registries", params={"q": "bulk", "size": 5, "page": 2}).text
    assert _rows(paged) == [f"bulk-{i:03d}" for i in range(5, 10)]
    assert 'href="/ui/registries?q=bulk&amp;size=5&amp;page=3"' in paged


def test_the_last_connection_test_is_shown_until_the_registry_moves(web: Web, clock: FixedClock) -> None:
    clock.set(dt.datetime(2026, 7, 1, 9, 30, tzinfo=dt.UTC))
    web.sign_in("platform")
    before = web.client.get("/ui/registries", params={"q": "harbor-payments"}).text
    assert "never tested" in before
    for name in ("harbor-payments", "ghcr-tools"):
        tested = web.client.post(f"/ui/registries/{name}/test", data={CSRF_FIELD: web.csrf()})
        assert tested.status_code == 200
    passed = web.client.get("/ui/registries", params={"q": "harbor-payments"}).text
    assert "passed" in passed and "2026-07-01 09:30 UTC" in passed and "never tested" not in passed
    failed = web.client.get("/ui/registries", params={"q": "ghcr-tools"}).text
    assert '<span class="state state-expired">failed</span>' in failed
    web.sign_in("auditor")  # another role sees the same last result
    assert "2026-07-01 09:30 UTC" in web.client.get("/ui/registries", params={"q": "harbor-payments"}).text
    # The registry moves: its old result is not its new location's.
    governance.put_registry(web.hm, Principal("admin", Role.ADMINISTRATOR), name="harbor-payments",
                            create=False, fields={"url": "https://harbor2.corp"})
    moved = web.client.get("/ui/registries", params={"q": "harbor-payments"}).text
    assert "never tested" in moved


def test_the_list_follows_every_model_change_at_once(web: Web) -> None:
    """The list is built once per model revision and day: a change shows on the next view."""
    web.sign_in("auditor")
    assert "bulk-000" not in web.client.get("/ui/registries?q=bulk").text
    _add(web, 1)
    assert _rows(web.client.get("/ui/registries?q=bulk").text) == ["bulk-000"]
    governance.delete_registry(web.hm, Principal("admin", Role.ADMINISTRATOR), "bulk-000")
    assert "No registry matches" in web.client.get("/ui/registries?q=bulk").text
