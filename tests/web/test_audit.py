"""The audit page: the filtered, paged log; the chain status (verified up to record N, or where it
breaks); the export as a download; only administrators and auditors."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from harbourmaster.domain.authz import PERMISSIONS, Permission
from harbourmaster.domain.model import Role
from harbourmaster.services.core import Harbourmaster
from harbourmaster.web.sessions import CSRF_FIELD
from tests.fakes.clock import FixedClock
from tests.fakes.store import MemoryStore
from tests.web.conftest import CANARIES, ROLE_USERS, Web, csrf_of
from tests.web.test_roles import crawl

_ROW = re.compile(r'<tr>\s*<th scope="row">(\d+)</th>\s*<td><time datetime="([^"]+)">.*?</time></td>\s*'
                  r"<td>([^<]*)</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>", re.DOTALL)
T0 = dt.datetime(2027, 5, 1, 9, tzinfo=dt.UTC)


def _rows(html: str) -> list[tuple[int, str, str, str, str, str]]:
    """Each listed record's (seq, time, actor, action, target, result), in the order shown."""
    return [(int(m[0]), m[1], m[2], m[3], m[4], m[5]) for m in _ROW.findall(html)]


def _head(hm: Harbourmaster) -> int:
    with hm.store.read() as tx:
        head = tx.audit.head()
    assert head is not None
    return head[0]


@pytest.fixture
def logged(web: Web, clock: FixedClock) -> Web:
    """Records of three actors at three times, an hour apart from T0."""
    for hours, (actor, action, target, result) in enumerate([
        ("alice", "registry.create", "registry/harbor-a", "ok"),
        ("bob", "decision.check", "prod-eu/payments/api", "denied"),
        ("alice", "registry.test", "registry/harbor-a", "failed"),
    ]):
        clock.set(T0 + dt.timedelta(hours=hours))
        with web.hm.store.transaction() as tx:
            tx.audit.append(actor=actor, action=action, target=target, result=result, details={"n": hours})
    clock.set(T0 + dt.timedelta(hours=5))
    # The server's checkpoint file lives in its data directory, which serve makes.
    web.hm.settings.audit_checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
    return web


def test_the_log_lists_records_newest_first_with_the_chain_verified_to_the_last(logged: Web) -> None:
    logged.sign_in("auditor")
    page = logged.client.get("/ui/audit")
    assert page.status_code == 200
    head = _head(logged.hm)
    assert f"Verified up to record {head}" in page.text
    rows = _rows(page.text)
    seqs = [r[0] for r in rows]
    assert seqs == sorted(seqs, reverse=True) and seqs[0] == head
    assert rows[0][2:4] == ("auditor", "token.use")  # this page view itself
    assert ("bob", "decision.check", "prod-eu/payments/api", "denied") in [r[2:] for r in rows]


def test_filters_narrow_the_list(logged: Web) -> None:
    logged.sign_in("admin")
    by_actor = _rows(logged.client.get("/ui/audit", params={"actor": "alice"}).text)
    assert [r[3] for r in by_actor] == ["registry.test", "registry.create"]
    by_action = _rows(logged.client.get("/ui/audit", params={"action": "registry"}).text)
    assert {r[3] for r in by_action} == {"registry.test", "registry.create"}  # a dotted prefix
    assert _rows(logged.client.get("/ui/audit", params={"action": "regis"}).text) == []
    by_target = _rows(logged.client.get("/ui/audit", params={"target": "payments/"}).text)
    assert [r[2] for r in by_target] == ["bob"]
    by_result = _rows(logged.client.get("/ui/audit", params={"result": "failed", "actor": "alice"}).text)
    assert [r[3] for r in by_result] == ["registry.test"]
    window = {"since": "2027-05-01T09:30", "until": "2027-05-01T11:00"}
    in_window = logged.client.get("/ui/audit", params=window).text
    assert [r[2:4] for r in _rows(in_window)] == [("bob", "decision.check")]
    # The form shows what was asked, each control with its label.
    assert 'id="f-since" name="since" value="2027-05-01T09:30"' in in_window
    for control in ("f-actor", "f-action", "f-target", "f-result", "f-since", "f-until", "f-size"):
        assert f'<label for="{control}">' in in_window
    nothing = logged.client.get("/ui/audit", params={"actor": "nobody"}).text
    assert _rows(nothing) == [] and "No record matches these filters" in nothing


def test_a_bad_time_is_refused_with_what_to_write(logged: Web) -> None:
    logged.sign_in("auditor")
    answer = logged.client.get("/ui/audit", params={"since": "yesterday"})
    assert answer.status_code in (400, 422)
    assert "is not a date" in answer.text


def test_pages_are_bounded_and_lead_to_older_records(logged: Web) -> None:
    logged.sign_in("auditor")
    first = logged.client.get("/ui/audit", params={"size": 1, "actor": "alice"}).text
    assert [r[3] for r in _rows(first)] == ["registry.test"]
    older = re.search(r'<a href="(/ui/audit\?[^"]*before=\d+[^"]*)">Older records</a>', first)
    assert older is not None
    link = older.group(1).replace("&amp;", "&")
    assert "actor=alice" in link and "size=1" in link
    second = logged.client.get(link).text
    assert [r[3] for r in _rows(second)] == ["registry.create"]
    assert "Older records" not in second and "Newest records" in second
    assert len(_rows(logged.client.get("/ui/audit", params={"size": 2}).text)) == 2
    assert logged.client.get("/ui/audit", params={"size": 201}).status_code == 422


def test_paging_walks_the_whole_filtered_log_once(logged: Web) -> None:
    logged.sign_in("auditor")
    seen: list[int] = []
    link: str | None = "/ui/audit?actor=alice&size=1"
    while link is not None:
        page = logged.client.get(link).text
        seen += [r[0] for r in _rows(page)]
        found = re.search(r'<a href="(/ui/audit\?[^"]*)">Older records</a>', page)
        link = found.group(1).replace("&amp;", "&") if found else None
    assert len(seen) == 2 and seen == sorted(seen, reverse=True)


def test_a_tampered_record_shows_where_the_chain_breaks(logged: Web) -> None:
    store = logged.hm.store
    assert isinstance(store, MemoryStore)
    with store.read() as tx:
        bob = next(e for e in tx.audit.entries() if e.actor == "bob")
    store.rewrite_audit(bob.seq, result="ok")  # someone hides the denial
    logged.sign_in("auditor")
    page = logged.client.get("/ui/audit").text
    assert "Verified up to record" not in page
    assert f"The chain is broken at record {bob.seq}:" in page
    assert f"The {bob.seq - 1} records before it verified." in page
    # No signed checkpoint can be made over a broken chain: only the records are offered.
    assert 'action="/ui/audit/export"' not in page and "No checkpoint can be signed" in page
    assert 'href="/ui/audit/export"' in page
    forced = logged.client.post("/ui/audit/export", data={CSRF_FIELD: logged.csrf("/ui/audit")})
    assert forced.status_code == 409 and "broken" in forced.text


def test_the_export_downloads_the_json_lines(logged: Web) -> None:
    logged.sign_in("auditor")
    answer = logged.client.get("/ui/audit/export")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    assert answer.headers["content-disposition"] == 'attachment; filename="harbourmaster-audit.jsonl"'
    records = [json.loads(line) for line in answer.text.splitlines()]
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    assert all(r.get("type") != "audit.checkpoint" for r in records)  # a link signs nothing
    assert ("bob", "decision.check", "denied") in [(r["actor"], r["action"], r["result"]) for r in records]
    # The same lines as the service the API's export calls.
    with logged.hm.store.read() as tx:
        assert [r["hash"] for r in records] == [e.hash for e in tx.audit.entries()][:len(records)]


def test_the_signed_export_is_a_form_that_ends_with_a_checkpoint(logged: Web) -> None:
    logged.sign_in("admin")
    page = logged.client.get("/ui/audit").text
    assert 'method="post" action="/ui/audit/export"' in page
    answer = logged.client.post("/ui/audit/export", data={CSRF_FIELD: csrf_of(page)})
    assert answer.status_code == 200
    assert answer.headers["content-disposition"].startswith("attachment;")
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert lines[-1]["type"] == "audit.checkpoint" and lines[-1]["seq"] == lines[-2]["seq"]
    checkpoints = logged.hm.settings.audit_checkpoint_file.read_text().splitlines()
    assert len(checkpoints) == 1 and json.loads(checkpoints[0])["seq"] == lines[-1]["seq"]
    # The page now checks the checkpoint too.
    assert "Signed checkpoints: 1 of 1 checked, all good." in logged.client.get("/ui/audit").text


def test_the_signed_export_refuses_a_missing_csrf_token(logged: Web) -> None:
    logged.sign_in("admin")
    for data in ({"export": "signed"}, {CSRF_FIELD: "not-the-token"}):
        answer = logged.client.post("/ui/audit/export", data=data)
        assert answer.status_code == 403 and "CSRF" in answer.text
    assert not logged.hm.settings.audit_checkpoint_file.exists()


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_only_auditors_and_administrators_see_the_audit_log(logged: Web, role: Role) -> None:
    logged.sign_in(ROLE_USERS[role])
    may = role in PERMISSIONS[Permission.AUDIT_READ]
    assert ('href="/ui/audit"' in logged.client.get("/ui/").text) == may
    for path in ("/ui/audit", "/ui/audit/export"):
        answer = logged.client.get(path)
        assert answer.status_code == (200 if may else 403), path
        if not may:
            assert "decision.check" not in answer.text and "Not allowed" in answer.text
    signed = logged.client.post("/ui/audit/export", data={CSRF_FIELD: logged.csrf()})
    assert signed.status_code == (200 if may else 403)
    assert logged.hm.settings.audit_checkpoint_file.exists() == may


def test_no_audit_page_or_download_shows_a_secret(logged: Web) -> None:
    for user in ("admin", "auditor"):
        logged.sign_in(user)
        pages = crawl(logged)  # opens the download link too, but keeps only the pages
        assert "/ui/audit" in pages
        export = logged.client.get("/ui/audit/export")
        signed = logged.client.post("/ui/audit/export", data={CSRF_FIELD: logged.csrf("/ui/audit")})
        assert export.status_code == signed.status_code == 200
        for text in (*pages.values(), export.text, signed.text):
            for canary in CANARIES.values():
                assert canary not in text
