"""Issue 8 on the command line: bounded durations, token lifetimes, list and revoke."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select

from harbourmaster.errors import Unauthenticated
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.tokens import authenticate
from harbourmaster.store.models import ApiTokenRow, AuditRow


def _create(cli, *args: str) -> tuple[str, Any]:  # type: ignore[no-untyped-def]
    result = cli("token", "create", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip(), result


@pytest.mark.parametrize(
    "args",
    [
        ("credentials", "expiring", "--within", "99999999999999999999d"),
        ("credentials", "expiring", "--within", "36501d"),
        ("credentials", "expiring", "--within", "²d"),
        ("token", "create", "--user", "admin", "--expires-in", "999999999d"),
        ("token", "create", "--user", "admin", "--expires-in", "3651d"),
        ("token", "create", "--user", "admin", "--expires-in", "0h"),
        ("token", "create", "--user", "admin", "--expires-in", "never"),
        ("vulns", "affected", "--since", "99999999999999999999d"),
    ],
)
def test_out_of_range_durations_exit_2_without_a_traceback(cli, applied, args: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    flag = args[-2]
    assert f"{flag}: " in result.stderr and ("too" in result.stderr or "not a duration" in result.stderr)
    with Harbourmaster.from_environ().db.read() as session:
        assert not [a for a in session.scalars(select(AuditRow.action)) if a == "token.create"]


def test_the_longest_values_are_accepted(cli, applied) -> None:  # type: ignore[no-untyped-def]
    rows = cli("credentials", "expiring", "--within", "36500d", "--json")
    assert rows.exit_code == 0 and len(json.loads(rows.stdout)) == 3
    _create(cli, "--user", "admin", "--expires-in", "3650d")


def test_tokens_expire_after_90_days_unless_told(cli, applied) -> None:  # type: ignore[no-untyped-def]
    _create(cli, "--user", "admin", "--name", "default")
    _create(cli, "--user", "web-dev", "--name", "short", "--expires-in", "8h")
    listed = {t["name"]: t for t in json.loads(cli("token", "list", "--json").stdout)}
    now = dt.datetime.now(dt.UTC)
    default = dt.datetime.fromisoformat(listed["default"]["expires_at"]) - now
    short = dt.datetime.fromisoformat(listed["short"]["expires_at"]) - now
    assert dt.timedelta(days=89, hours=23) < default <= dt.timedelta(days=90)
    assert dt.timedelta(hours=7, minutes=59) < short <= dt.timedelta(hours=8)


def test_list_and_revoke(cli, applied) -> None:  # type: ignore[no-untyped-def]
    token, created = _create(cli, "--user", "web-dev", "--name", "ci")
    assert token.startswith("hm_") and "token 1 for web-dev" in created.stderr
    hm = Harbourmaster.from_environ()
    principal = authenticate(hm, token)
    assert (principal.name, principal.token_id) == ("web-dev", 1)

    listed = cli("token", "list", "--json")
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.stdout)
    assert (row["id"], row["user"], row["name"]) == (1, "web-dev", "ci")
    assert (row["revoked"], row["expired"]) == (False, False)
    assert row["last_used_at"] is not None
    with hm.db.read() as session:
        digest = session.scalar(select(ApiTokenRow.token_hash))
    table = cli("token", "list")
    for output in (listed.output, table.output):
        assert token not in output and token[3:20] not in output and str(digest) not in output
    assert "web-dev" in table.stdout and "active" in table.stdout

    revoked = cli("token", "revoke", "1")
    assert revoked.exit_code == 0, revoked.output
    assert "token 1 (web-dev, ci) is revoked" in revoked.stderr
    assert json.loads(cli("token", "list", "--json").stdout)[0]["revoked"] is True
    assert "revoked" in cli("token", "list").stdout
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(hm, token, method="GET", route="/api/v1/me")
    with hm.db.read() as session:
        refused = [
            (r.result, dict(r.details))
            for r in session.scalars(select(AuditRow).where(AuditRow.action == "token.use"))
        ][-1]
    details = {"token_id": 1, "user": "web-dev", "name": "ci", "method": "GET", "route": "/api/v1/me"}
    assert refused == ("refused", {**details, "reason": "revoked"})


@pytest.mark.parametrize(
    ("token_id", "words"),
    [("7", "token 7 does not exist"), ("0", "greater than or equal to 1"), ("x", "valid integer")],
)
def test_revoke_unknown_or_malformed(cli, applied, token_id: str, words: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("token", "revoke", token_id)
    assert result.exit_code == 2 and words in result.output and "Traceback" not in result.output
