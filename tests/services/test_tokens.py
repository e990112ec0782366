"""Token lifetimes and windows are bounded in the service, whatever surface calls it."""

from __future__ import annotations

import datetime as dt

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.durations import DurationError
from harbourmaster.domain.model import Role
from harbourmaster.errors import BadInput, Forbidden
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import expiring_credentials
from harbourmaster.services.tokens import authenticate, create_token, list_tokens, revoke_token
from tests.store.support import apply_example


@pytest.fixture
def applied(hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch) -> Harbourmaster:
    apply_example(hm, monkeypatch)
    return hm


@pytest.mark.parametrize(
    "lifetime",
    [
        dt.timedelta(seconds=-1),
        dt.timedelta(0),
        dt.timedelta(minutes=59),
        dt.timedelta(days=3651),
        dt.timedelta.max,
    ],
)
def test_lifetimes_outside_an_hour_to_ten_years_are_refused(
    applied: Harbourmaster, lifetime: dt.timedelta
) -> None:
    with pytest.raises(DurationError, match="must be from 1 hour to 3650 days"):
        create_token(applied, user="admin", name="x", actor="t", lifetime=lifetime)
    assert list_tokens(applied, Principal("t", Role.ADMINISTRATOR)) == []


def test_default_lifetime_is_90_days(applied: Harbourmaster) -> None:
    issued = create_token(applied, user="admin", name="x", actor="t")
    left = issued.expires_at - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=89, hours=23) < left <= dt.timedelta(days=90)
    assert authenticate(applied, issued.token.reveal()).token_id == issued.id


@pytest.mark.parametrize("within", [dt.timedelta.max, dt.timedelta(days=36501), dt.timedelta(days=-1)])
def test_expiring_window_is_bounded(applied: Harbourmaster, within: dt.timedelta) -> None:
    with pytest.raises(BadInput, match="within: "):
        expiring_credentials(applied, Principal("t", Role.AUDITOR), within=within)


def test_only_token_administrators_list_or_revoke(applied: Harbourmaster) -> None:
    issued = create_token(applied, user="admin", name="x", actor="t")
    for role in (Role.PLATFORM_ENGINEER, Role.AUDITOR, Role.TEAM_MEMBER):
        with pytest.raises(Forbidden):
            list_tokens(applied, Principal("p", role))
        with pytest.raises(Forbidden):
            revoke_token(applied, Principal("p", role), token_id=issued.id)
    assert authenticate(applied, issued.token.reveal()).name == "admin"

