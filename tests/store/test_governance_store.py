"""The governance repository (load, save, revision) on SQLite and PostgreSQL: round trips, transitions,
and atomic failure of a unit of work."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from harbourmaster.cli._common import local_principal
from harbourmaster.domain.matching import parse_registry_location
from harbourmaster.domain.model import (
    AccessEntry,
    CredentialInfo,
    CredentialKind,
    Environment,
    EnvironmentKind,
    Provider,
    Registry,
    RegistryGrant,
    Role,
    Team,
    Tier,
    TlsSettings,
    User,
)
from harbourmaster.domain.state import GovernanceState, StateInvalid
from harbourmaster.domain.tiers import DEFAULT_TIER_POLICIES, TierPolicy
from harbourmaster.errors import Error
from harbourmaster.services.apply import apply_document
from harbourmaster.services.audit import AuditLogBroken, verify_audit
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.document import DocumentInvalid
from harbourmaster.store.interface import GovernanceRepository
from harbourmaster.store.values import SealedUpdates
from tests.integration.postgres import core_on, table_rows
from tests.store.support import EXAMPLE, apply_example, set_example_secrets, state_key


def _revision(hm: Harbourmaster) -> int:
    with hm.store.read() as tx:
        return tx.governance.revision()


def _audit_count(hm: Harbourmaster) -> int:
    with hm.store.read() as tx:
        return sum(1 for _ in tx.audit.entries())


# -- the example model ----------------------------------------------------------------------------
def test_the_example_model_round_trips(hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch) -> None:
    result = apply_example(hm, monkeypatch)
    assert result.applied and result.changes
    state = hm.state()

    assert {r.name for r in state.registries} == {
        "dockerhub-anonymous",
        "harbor-payments",
        "harbor-web",
        "ecr-prod",
        "ghcr-tools",
        "dev-local",
    }
    payments = state.registry("harbor-payments")
    assert payments is not None and payments.credential is not None
    assert payments.credential == CredentialInfo(
        CredentialKind.ROBOT, "robot$payments+deployer", dt.date(2028, 6, 30), secret_set=True
    )
    assert payments.scope == "payments" and payments.location.host == "harbor.corp"
    ecr = state.registry("ecr-prod")
    assert ecr is not None and dict(ecr.provider_fields) == {"region": "eu-west-1", "account": "123456789012"}
    dev_local = state.registry("dev-local")
    assert dev_local is not None and dev_local.tls.insecure and dev_local.credential is None
    staging = state.environment("staging-k8s")
    assert staging == Environment(
        "staging-k8s", EnvironmentKind.KUBERNETES, Tier.STAGING, "eu", ("payments", "web"), True
    )
    assert {u.name: u.role for u in state.users}["auditor"] is Role.AUDITOR
    assert {t.name: t.members for t in state.teams} == {"payments": ("payments-dev",), "web": ("web-dev",)}
    assert len(state.access) == 7
    assert len(state.grants) == 11
    assert RegistryGrant("ghcr-tools", "dev-docker", user="tools-dev") in state.grants
    assert state.tiers[Tier.PRODUCTION].block_severity == "high"
    assert state.tiers[Tier.PRODUCTION].require_signature is True
    assert state.tiers[Tier.DEVELOPMENT].advisory_severity == "medium"

    # A second core with its own engine reads the same model back.
    other = core_on(hm.settings.database_url, hm.settings.home, init=False)
    try:
        assert state_key(other.state()) == state_key(state)
    finally:
        other.db.dispose()


def test_reapplying_the_same_document_changes_nothing(
    hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_example(hm, monkeypatch)
    before_rows = table_rows(hm.db.engine)
    again = apply_example(hm, monkeypatch)
    assert again.changes == [] and not again.applied
    assert table_rows(hm.db.engine) == before_rows


def test_save_state_writes_each_kind_of_change(hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch) -> None:
    apply_example(hm, monkeypatch)
    with hm.store.transaction() as tx:
        old = tx.governance.load()
        staging = old.environment("staging-k8s")
        assert staging is not None
        new = replace(
            old,
            environments=tuple(
                replace(e, namespaces=("payments", "tools")) if e.name == "staging-k8s" else e
                for e in old.environments
            ),
            users=tuple(
                replace(u, role=Role.PLATFORM_ENGINEER) if u.name == "web-dev" else u for u in old.users
            ),
            teams=(*old.teams, Team("tools", ("tools-dev", "web-dev"))),
            access=tuple(a for a in old.access if a.environment != "prod-eu"),
            grants=tuple(g for g in old.grants if g.namespace != "web"),
            tiers={**old.tiers, Tier.STAGING: TierPolicy(Tier.STAGING, "medium", "low", True, True)},
            hide_dockerhub_anonymous=True,
        )
        revision = tx.governance.save(new)
        assert revision == tx.governance.revision()
    assert state_key(hm.state()) == state_key(new)
    assert _revision(hm) == revision


# -- arbitrary transitions ------------------------------------------------------------------------
_REG_NAMES = ("alpha", "beta", "gamma", "delta")
_ENV_NAMES = ("dev", "stage", "prod")
_USER_NAMES = ("ann", "bob", "cy", "dee")
_TEAM_NAMES = ("red", "blue")
_NAMESPACES = ("ns-a", "ns-b", "ns-c")


@st.composite
def _registry(draw: st.DrawFn, name: str) -> Registry:
    provider = draw(st.sampled_from([Provider.CUSTOM, Provider.HARBOR, Provider.QUAY]))
    host = draw(st.sampled_from(["r1.corp", "r2.corp:5000"]))
    scope = draw(st.sampled_from([None, "team", "team/sub"]))
    url = f"https://{host}"
    credential = draw(
        st.none()
        | st.builds(
            CredentialInfo,
            kind=st.sampled_from(CredentialKind),
            username=st.text(
                st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40
            ),
            expires=st.none() | st.dates(dt.date(2020, 1, 1), dt.date(2040, 1, 1)),
            secret_set=st.just(False),
        )
    )
    tls = TlsSettings(
        ca_bundle=draw(st.none() | st.just("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")),
        client_certificate=None,
        client_key_set=False,
        insecure=draw(st.booleans()),
    )
    return Registry(
        name=name,
        provider=provider,
        url=url,
        location=parse_registry_location(url, scope),
        oci_artifacts=draw(st.booleans()),
        provider_fields=(),
        tls=tls,
        credential=credential,
        declared_public=draw(st.booleans()),
    )


@st.composite
def governance_states(draw: st.DrawFn) -> GovernanceState:
    """A model whose references all resolve (what saving needs); rules are not checked here."""
    registries = tuple(draw(_registry(n)) for n in draw(st.lists(st.sampled_from(_REG_NAMES), unique=True)))
    environments = tuple(
        Environment(
            name,
            draw(st.sampled_from(EnvironmentKind)),
            draw(st.sampled_from(Tier)),
            draw(st.none() | st.sampled_from(["eu", "us"])),
            tuple(sorted(draw(st.lists(st.sampled_from(_NAMESPACES), unique=True)))),
            draw(st.booleans()),
        )
        for name in draw(st.lists(st.sampled_from(_ENV_NAMES), unique=True))
    )
    users = tuple(
        User(n, draw(st.sampled_from(Role)))
        for n in draw(st.lists(st.sampled_from(_USER_NAMES), unique=True))
    )
    user_names = [u.name for u in users]
    teams = tuple(
        Team(n, tuple(sorted(draw(st.lists(st.sampled_from(user_names), unique=True)) if user_names else ())))
        for n in draw(st.lists(st.sampled_from(_TEAM_NAMES), unique=True))
    )
    team_names = [t.name for t in teams]
    env_names = [e.name for e in environments]
    reg_names = [r.name for r in registries]
    grantees: list[tuple[str | None, str | None]] = [(u, None) for u in user_names] + [
        (None, t) for t in team_names
    ]
    access: tuple[AccessEntry, ...] = ()
    grants: tuple[RegistryGrant, ...] = ()
    if env_names and grantees:
        keys = draw(
            st.lists(
                st.tuples(st.sampled_from(env_names), st.sampled_from(grantees)), unique=True, max_size=6
            )
        )
        access = tuple(AccessEntry(e, u, t, draw(st.sampled_from(Role))) for e, (u, t) in keys)
    if env_names and reg_names:
        targets: list[tuple[str | None, str | None, str | None]] = [(ns, None, None) for ns in _NAMESPACES]
        targets += [(None, u, t) for u, t in grantees]
        grants = tuple(
            RegistryGrant(r, e, ns, u, t)
            for r, e, (ns, u, t) in draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(reg_names), st.sampled_from(env_names), st.sampled_from(targets)
                    ),
                    unique=True,
                    max_size=8,
                )
            )
        )
    tiers = dict(DEFAULT_TIER_POLICIES)
    if draw(st.booleans()):
        tiers[Tier.STAGING] = TierPolicy(
            Tier.STAGING,
            draw(st.sampled_from(["high", "critical"])),
            draw(st.sampled_from([None, "low"])),
            draw(st.booleans()),
            draw(st.booleans()),
        )
    return GovernanceState(
        registries=registries,
        environments=environments,
        users=users,
        teams=teams,
        access=access,
        grants=grants,
        tiers=tiers,
        hide_dockerhub_anonymous=draw(st.booleans()),
    )


@pytest.fixture
def bare_core(database_url: str, tmp_path: Path) -> Iterator[Harbourmaster]:
    core = core_on(database_url, tmp_path / "bare")
    with core.store.transaction() as tx:  # start from an empty model (drop the built-in registry)
        tx.governance.save(GovernanceState())
    yield core
    core.db.dispose()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=governance_states())
def test_any_model_replaces_the_previous_one_exactly(
    bare_core: Harbourmaster, state: GovernanceState
) -> None:
    """One database across examples: each save turns the previous model into the drawn one."""
    with bare_core.store.transaction() as tx:
        before = tx.governance.revision()
        assert tx.governance.save(state) == before + 1
    with bare_core.store.read() as tx:
        assert state_key(tx.governance.load()) == state_key(state)


# -- nothing half-written -------------------------------------------------------------------------
class Boom(Error):
    pass


def _add_env(state: GovernanceState) -> GovernanceState:
    return state.evolve(
        environments=(*state.environments, Environment("added", EnvironmentKind.SWARM, Tier.DEVELOPMENT))
    )


def test_a_rule_violation_writes_nothing(hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch) -> None:
    apply_example(hm, monkeypatch)
    rows, revision, audits = table_rows(hm.db.engine), _revision(hm), _audit_count(hm)
    with pytest.raises(StateInvalid) as info:
        hm.change(
            actor="tester",
            action="test.change",
            target="t",
            mutate=lambda s: _add_env(s).evolve(grants=(*s.grants, RegistryGrant("nope", "added", user="x"))),
        )
    assert any("registry nope is not defined" in d for d in info.value.details)
    assert table_rows(hm.db.engine) == rows
    assert (_revision(hm), _audit_count(hm)) == (revision, audits)


def test_an_invalid_document_writes_nothing(hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch) -> None:
    apply_example(hm, monkeypatch)
    rows = table_rows(hm.db.engine)
    text_ = EXAMPLE.read_text(encoding="utf-8")
    assert "environment: dev-docker\n    teams: [payments, web]" in text_
    text_ = text_.replace(
        "environment: dev-docker\n    teams: [payments, web]",
        "environment: dev-docker\n    teams: [payments, ghosts]",
    )
    set_example_secrets(monkeypatch)
    doc = text_.replace(
        "  - name: tools-dev\n    role: team-member\n",
        "  - name: tools-dev\n    role: team-member\n  - name: extra\n    role: auditor\n",
    )
    with pytest.raises(DocumentInvalid) as info:
        apply_document(hm, local_principal(hm), doc, source="bad.yaml", host=hm.host_files())
    assert any(
        d.startswith("grants[7].teams[1]") and "team ghosts is not defined" in d for d in info.value.details
    )
    assert table_rows(hm.db.engine) == rows


def test_an_exception_inside_mutate_writes_nothing(
    hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_example(hm, monkeypatch)
    rows = table_rows(hm.db.engine)

    def mutate(state: GovernanceState) -> GovernanceState:
        raise Boom("mutation failed")

    with pytest.raises(Boom):
        hm.change(actor="tester", action="test.change", target="t", mutate=mutate)
    assert table_rows(hm.db.engine) == rows


def test_an_exception_after_rows_were_added_rolls_them_back(
    hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_example(hm, monkeypatch)
    rows = table_rows(hm.db.engine)

    def sealed(governance: GovernanceRepository, _o: GovernanceState, new: GovernanceState) -> SealedUpdates:
        governance.save(new.evolve(users=(*new.users, User("half-written", Role.AUDITOR))))
        raise Boom("sealing failed")

    with pytest.raises(Boom):
        hm.change(actor="tester", action="test.change", target="t", mutate=_add_env, sealed=sealed)
    assert table_rows(hm.db.engine) == rows


def test_a_failure_after_the_model_was_written_rolls_back_the_model(
    hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit append comes after the model is saved: if it fails, the model change goes too."""
    apply_example(hm, monkeypatch)
    with hm.store.read() as tx:
        head = tx.audit.head()
    assert head is not None
    last = head[0]
    with hm.db.transaction() as session:  # around the store, as whoever can write the database
        session.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": last})
    rows, revision = table_rows(hm.db.engine), _revision(hm)
    with pytest.raises(AuditLogBroken) as info:
        hm.change(actor="tester", action="test.change", target="t", mutate=_add_env)
    assert f"newest record {last} is missing" in info.value.message
    assert table_rows(hm.db.engine) == rows
    assert _revision(hm) == revision
    assert hm.state().environment("added") is None


def test_every_change_is_audited_with_its_revision(
    hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply_example(hm, monkeypatch)
    change = hm.change(actor="tester", action="test.change", target="t", mutate=_add_env)
    assert change.applied and change.revision == _revision(hm)
    with hm.store.read() as tx:
        verdict = verify_audit(tx.audit)
        last = list(tx.audit.entries())[-1]
        recorded = (last.actor, last.action, last.target, dict(last.details))
    with hm.db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == verdict.count
    assert verdict.ok
    assert recorded[:3] == ("tester", "test.change", "t")
    assert recorded[3]["revision"] == change.revision
    assert recorded[3]["changes"] == list(change.changes)
