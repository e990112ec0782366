"""API tokens on the fakes: issued, used, expired and revoked by the core's clock, every use audited."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.errors import NotFound, Unauthenticated
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.tokens import authenticate, create_token, list_tokens, revoke_token
from tests.fakes.clock import FixedClock
from tests.services.unit._example import apply_example

ADMIN = Principal("admin", Role.ADMINISTRATOR)


@pytest.fixture
def applied(core: Harbourmaster, example_secrets: dict[str, str]) -> Harbourmaster:
    apply_example(core)
    return core


def _uses(core: Harbourmaster) -> list[tuple[str, str, str | None]]:
    with core.store.read() as tx:
        uses = [e for e in tx.audit.entries() if e.action == "token.use"]
    return [(e.result, e.time, e.details.get("reason")) for e in uses]


def test_a_token_works_until_the_clock_passes_its_expiry(applied: Harbourmaster, clock: FixedClock) -> None:
    issued_at = clock.now()
    issued = create_token(applied, user="auditor", name="ci", actor="admin", lifetime=dt.timedelta(hours=2))
    assert issued.expires_at == issued_at + dt.timedelta(hours=2)
    principal = authenticate(applied, issued.token.reveal(), method="GET", route="/api/v1/registries")
    assert (principal.name, principal.role, principal.token_id) == ("auditor", Role.AUDITOR, issued.id)

    clock.advance(dt.timedelta(minutes=30))
    authenticate(applied, issued.token.reveal())
    (info,) = list_tokens(applied, ADMIN, user="auditor")
    assert info.last_used_at == clock.now() and not info.expired

    clock.advance(dt.timedelta(hours=2))
    with pytest.raises(Unauthenticated, match="has expired"):
        authenticate(applied, issued.token.reveal())
    (info,) = list_tokens(applied, ADMIN, user="auditor")
    assert info.expired
    uses = _uses(applied)
    assert [(result, reason) for result, _, reason in uses] == [
        ("ok", None), ("ok", None), ("refused", "expired")
    ]
    assert uses[-1][1].startswith(clock.now().strftime("%Y-%m-%dT%H:%M"))


def test_a_revoked_token_is_refused_and_the_refusal_stays_in_the_log(applied: Harbourmaster) -> None:
    issued = create_token(applied, user="admin", name="cd", actor="admin")
    revoked = revoke_token(applied, ADMIN, token_id=issued.id)
    assert revoked.revoked
    with pytest.raises(Unauthenticated, match="revoked"):
        authenticate(applied, issued.token.reveal())
    assert [(result, reason) for result, _, reason in _uses(applied)] == [("refused", "revoked")]
    with pytest.raises(NotFound):
        revoke_token(applied, ADMIN, token_id=issued.id + 1)


def test_tokens_need_a_user_and_go_with_it(applied: Harbourmaster) -> None:
    with pytest.raises(NotFound, match="user nobody is not defined"):
        create_token(applied, user="nobody", name="x", actor="admin")
    create_token(applied, user="web-dev", name="x", actor="admin")
    with applied.store.transaction() as tx:
        state = tx.governance.load()
        teams = tuple(replace(t, members=tuple(m for m in t.members if m != "web-dev")) for t in state.teams)
        users = tuple(u for u in state.users if u.name != "web-dev")
        tx.governance.save(state.evolve(users=users, teams=teams))
    assert list_tokens(applied, ADMIN) == []
