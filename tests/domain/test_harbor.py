"""A managed Harbor's wanted project settings, their drift, robot rotation timing and purposes (pure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from harbourmaster.domain.harbor import (
    PULL_ROBOT,
    PUSH_ROBOT,
    RobotLife,
    desired_robots,
    guarded_tiers,
    harbor_project,
    project_settings,
    robot_for_purpose,
    rotation_due,
    settings_changes,
)
from harbourmaster.domain.harbor_management import (
    HarborManagement,
    RobotAccess,
    RobotSpec,
    management_document,
    management_from_document,
)
from harbourmaster.domain.matching import parse_registry_location
from harbourmaster.domain.model import AllowlistEntry, Provider, Registry, RegistryGrant, Tier
from harbourmaster.domain.tiers import DEFAULT_TIER_POLICIES

TODAY = dt.date(2026, 11, 30)
TIERS = {"dev": Tier.DEVELOPMENT, "stage": Tier.STAGING, "prod": Tier.PRODUCTION}


def _registry(scope: str | None = "payments/team-a") -> Registry:
    return Registry(
        name="harbor-payments",
        provider=Provider.HARBOR,
        url="https://harbor.corp",
        location=parse_registry_location("https://harbor.corp", scope),
        management=HarborManagement(),
    )


def _settings(*environments: str, allowlist: tuple[AllowlistEntry, ...] = (), tiers=DEFAULT_TIER_POLICIES):  # type: ignore[no-untyped-def]
    grants = [RegistryGrant("harbor-payments", env, namespace="payments") for env in environments]
    grants.append(RegistryGrant("other", "prod", namespace="web"))
    return project_settings(_registry(), grants=grants, environment_tiers=TIERS, tiers=tiers,
                            allowlist=allowlist, today=TODAY)  # fmt: skip


def test_the_project_is_the_first_segment_of_the_scope() -> None:
    assert harbor_project(_registry()) == "payments"
    assert harbor_project(_registry(None)) is None


def test_the_strictest_granted_tier_decides_the_project_settings() -> None:
    dev = DEFAULT_TIER_POLICIES[Tier.DEVELOPMENT]
    prod = DEFAULT_TIER_POLICIES[Tier.PRODUCTION]
    only_dev = _settings("dev")
    assert only_dev.tiers == (Tier.DEVELOPMENT,)
    assert only_dev.severity == dev.block_severity
    assert only_dev.content_trust_cosign is dev.require_signature
    with_prod = _settings("dev", "prod")
    assert with_prod.tiers == (Tier.DEVELOPMENT, Tier.PRODUCTION)
    assert with_prod.severity == prod.block_severity
    assert with_prod.prevent_vul is True
    assert with_prod.content_trust_cosign is prod.require_signature
    assert with_prod.auto_scan is True
    assert with_prod.reuse_sys_cve_allowlist is False
    # Granted nowhere yet: production's settings, the strictest default.
    assert _settings().severity == prod.block_severity


def test_a_tier_that_blocks_nothing_turns_prevent_vul_off() -> None:
    tiers = {**DEFAULT_TIER_POLICIES,
             Tier.DEVELOPMENT: replace(DEFAULT_TIER_POLICIES[Tier.DEVELOPMENT], block_severity="none",
                                       advisory_severity=None)}  # fmt: skip
    settings = _settings("dev", tiers=tiers)
    assert settings.prevent_vul is False
    assert settings.metadata()["prevent_vul"] == "false"
    # Harbor ignores severity while prevent_vul is off: no drift is reported on it.
    assert settings_changes(settings, {**settings.metadata(), "severity": "low"}, (), None) == []


def test_the_allowlist_holds_the_registrys_and_system_wide_active_entries_with_the_earliest_expiry() -> None:
    entries = (
        AllowlistEntry("CVE-2024-1", dt.date(2027, 3, 31), "accepted", "harbor-payments"),
        AllowlistEntry("CVE-2024-2", dt.date(2027, 1, 15), "accepted everywhere"),
        AllowlistEntry("CVE-2024-3", dt.date(2027, 1, 1), "another registry's", "other"),
        AllowlistEntry("CVE-2024-4", dt.date(2026, 1, 1), "expired", "harbor-payments"),
    )
    settings = _settings("prod", allowlist=entries)
    assert settings.allowlist == ("CVE-2024-1", "CVE-2024-2")
    expected = dt.datetime(2027, 1, 15, 23, 59, 59, tzinfo=dt.UTC).timestamp()
    assert settings.allowlist_expires == int(expected)


def test_drift_names_each_setting_that_differs() -> None:
    wanted = _settings("prod")
    assert settings_changes(wanted, wanted.metadata(), wanted.allowlist, wanted.allowlist_expires) == []
    drifted = {**wanted.metadata(), "severity": "critical", "auto_scan": "false"}
    changes = settings_changes(wanted, drifted, ("CVE-2020-1",), None)
    assert {(c.setting, c.current, c.wanted) for c in changes} == {
        ("severity", "critical", wanted.severity),
        ("auto_scan", "false", "true"),
        ("cve_allowlist", "CVE-2020-1", ""),
    }
    missing = settings_changes(wanted, {}, (), None)
    assert {c.setting for c in missing} == set(wanted.metadata())
    assert all(c.current is None for c in missing)


def test_an_allowlist_expiry_that_moved_is_drift() -> None:
    entries = (AllowlistEntry("CVE-2024-1", dt.date(2027, 3, 31), "accepted", "harbor-payments"),)
    wanted = _settings("prod", allowlist=entries)
    changes = settings_changes(wanted, wanted.metadata(), wanted.allowlist, None)
    assert [c.setting for c in changes] == ["cve_allowlist.expires_at"]


def test_own_robots_come_first_then_ci_robots() -> None:
    ci = RobotSpec("ci", RobotAccess.PUSH, 30)
    robots = desired_robots(HarborManagement(robot_lifetime_days=60, robots=(ci,)))
    assert [(r.name, r.access, r.lifetime_days) for r in robots] == [
        (PULL_ROBOT, RobotAccess.PULL, 60), (PUSH_ROBOT, RobotAccess.PUSH, 60), ("ci", RobotAccess.PUSH, 30)
    ]
    assert RobotAccess.PULL.actions == ("pull",)
    assert RobotAccess.PUSH.actions == ("pull", "push")


@pytest.mark.parametrize(("purpose", "robot"), [
    ("deploy 7", PULL_ROBOT), ("resolve", PULL_ROBOT), ("registry.push", PULL_ROBOT),
    ("image.sign", PUSH_ROBOT), ("sbom.attach", PUSH_ROBOT), ("mirror", PUSH_ROBOT),
    ("airgap.import", PUSH_ROBOT),
])  # fmt: skip
def test_writes_use_the_push_robot_and_everything_else_the_pull_robot(purpose: str, robot: str) -> None:
    assert robot_for_purpose(purpose) == robot


def test_rotation_is_due_at_the_given_fraction_of_the_lifetime() -> None:
    issued = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    life = RobotLife(issued, issued + dt.timedelta(days=90))
    assert not rotation_due(life, rotate_at=0.5, now=issued + dt.timedelta(days=44, hours=23))
    assert rotation_due(life, rotate_at=0.5, now=issued + dt.timedelta(days=45))
    assert not rotation_due(life, rotate_at=0.9, now=issued + dt.timedelta(days=80))
    assert not rotation_due(RobotLife(issued, None), rotate_at=0.1, now=issued + dt.timedelta(days=3650))


def test_expiry_is_mandatory_where_staging_or_production_is_granted() -> None:
    grants = [RegistryGrant("harbor-payments", env, namespace="payments") for env in ("dev", "prod", "stage")]
    assert guarded_tiers(grants, "harbor-payments", TIERS) == ["prod", "stage"]
    assert guarded_tiers(grants[:1], "harbor-payments", TIERS) == []


def test_the_management_document_round_trips() -> None:
    m = HarborManagement(robot_lifetime_days=None, rotate_at=0.25, alert_days=7,
                         robots=(RobotSpec("ci", RobotAccess.PUSH, 30, "CI pushes"),))  # fmt: skip
    doc = management_document(m)
    assert doc["robot_lifetime_days"] == -1
    assert management_from_document(doc) == m


def test_one_harbor_project_is_managed_from_one_registry_only() -> None:
    from harbourmaster.domain.state import GovernanceState, validate_state

    first = _registry("payments/team-a")
    second = replace(_registry("payments/team-b"), name="harbor-payments-b")
    elsewhere = replace(_registry("payments"), name="other-harbor", url="https://harbor2.corp",
                        location=parse_registry_location("https://harbor2.corp", "payments"))
    unmanaged = replace(_registry("payments/team-c"), name="harbor-payments-c", management=None)
    state = GovernanceState(registries=(first, second, elsewhere, unmanaged))
    problems = [v for v in validate_state(state, today=TODAY) if "both manage" in v.message]
    assert [v.message for v in problems] == [
        "registries harbor-payments and harbor-payments-b both manage Harbor project payments on "
        "harbor.corp: a project has one set of settings and robot accounts; manage it from harbor-payments "
        "only (set "
        "manage: false on harbor-payments-b, which then uses its own credential)"
    ]
    assert problems[0].path.endswith(".manage")
    alone = GovernanceState(registries=(first, elsewhere, unmanaged))
    assert not [v for v in validate_state(alone, today=TODAY) if "both manage" in v.message]
