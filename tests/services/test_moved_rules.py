"""Rules that moved from the surfaces into services (issue 9, item 4): each is enforced by the service."""

from __future__ import annotations

import datetime as dt

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role, Team, Tier, User
from harbourmaster.errors import BadInput, Forbidden, NotFound
from harbourmaster.services import audit_log, governance, governance_reads
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import expiring_credentials
from harbourmaster.services.decisions import check_deployment
from harbourmaster.services.export import export_model
from harbourmaster.services.results import DecisionPublic
from harbourmaster.services.tokens import issue_token, list_tokens
from tests.store.support import apply_example

ADMIN = Principal("admin", Role.ADMINISTRATOR)
PLATFORM = Principal("platform", Role.PLATFORM_ENGINEER)
AUDITOR = Principal("auditor", Role.AUDITOR)
MEMBER = Principal("payments-dev", Role.TEAM_MEMBER)


@pytest.fixture
def applied(hm: Harbourmaster, monkeypatch: pytest.MonkeyPatch) -> Harbourmaster:
    apply_example(hm, monkeypatch)
    return hm


def _audit_actions(hm: Harbourmaster) -> list[str]:
    with hm.store.read() as tx:
        return [e.action for e in tx.audit.entries(after=0)]


def test_images_or_content_is_decided_by_the_decision_service(applied: Harbourmaster) -> None:
    def check(images: list[str] | None = None, content: str | None = None) -> list[DecisionPublic]:
        return check_deployment(
            applied,
            ADMIN,
            environment="prod-eu",
            namespace="payments",
            images=images,
            content=content,
            source="p.yaml",
            resolve=False,
            source_only=True,
        ).decisions

    with pytest.raises(BadInput, match="either images or content"):
        check(images=["nginx"], content="services: {}\n")
    with pytest.raises(BadInput, match="either images or content"):
        check()
    assert [d.allowed for d in check(images=["harbor.corp/payments/api:1.4"])] == [True]
    manifest = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n"
        "spec: {containers: [{name: c, image: evil.io/x:1}]}\n"
    )
    content = check(content=manifest)
    assert [(d.image, d.allowed, d.extraction) for d in content] == [("evil.io/x:1", False, "known")]


def test_environment_patch_merges_in_the_service(applied: Harbourmaster) -> None:
    before = governance_reads.environment(applied, ADMIN, "dev-docker")
    governance.update_environment(applied, PLATFORM, "dev-docker", hide_dockerhub_anonymous=True)
    after = governance_reads.environment(applied, ADMIN, "dev-docker")
    # Only the field given changed; every other field kept its stored value.
    assert after.model_dump() == {**before.model_dump(), "hide_dockerhub_anonymous": True}
    assert _audit_actions(applied)[-1] == "environment.update"
    with pytest.raises(NotFound, match="did you mean dev-docker"):
        governance.update_environment(applied, PLATFORM, "dev-dockr", group=None)
    with pytest.raises(BadInput, match="tier may not be null"):
        governance.update_environment(applied, PLATFORM, "dev-docker", tier=None)
    with pytest.raises(BadInput, match="unknown field"):
        governance.update_environment(applied, PLATFORM, "dev-docker", name="x")
    with pytest.raises(Forbidden):
        governance.update_environment(applied, MEMBER, "dev-docker", tier=Tier.PRODUCTION)


def test_create_or_update_is_decided_in_the_write_transaction(applied: Harbourmaster) -> None:
    governance.put_user(applied, ADMIN, User("newcomer", Role.AUDITOR))
    assert _audit_actions(applied)[-1] == "user.create"
    governance.put_user(applied, ADMIN, User("newcomer", Role.TEAM_MEMBER))
    assert _audit_actions(applied)[-1] == "user.update"
    users = {(u.name, u.role) for u in governance_reads.list_users(applied, ADMIN)}
    assert ("newcomer", "team-member") in users
    governance.put_team(applied, ADMIN, Team("newcomers", ("newcomer",)))
    assert _audit_actions(applied)[-1] == "team.create"
    governance.put_team(applied, ADMIN, Team("newcomers", ()))
    assert _audit_actions(applied)[-1] == "team.update"


@pytest.mark.parametrize(
    ("call", "allowed", "refused"),
    [
        (lambda hm, p: export_model(hm, p), MEMBER, None),
        (lambda hm, p: audit_log.verify(hm, p), AUDITOR, PLATFORM),
        (lambda hm, p: list(audit_log.export_lines(hm, p, checkpoint=False)), AUDITOR, MEMBER),
        (lambda hm, p: audit_log.public_key(hm, p), AUDITOR, PLATFORM),
        (lambda hm, p: expiring_credentials(hm, p, within=dt.timedelta(days=1)), AUDITOR, None),
        (lambda hm, p: issue_token(hm, p, user="auditor", name="t"), ADMIN, PLATFORM),
        (lambda hm, p: governance_reads.list_registries(hm, p), MEMBER, None),
    ],
)
def test_the_services_check_permissions_themselves(
    applied: Harbourmaster, call: object, allowed: Principal, refused: Principal | None
) -> None:
    call(applied, allowed)  # type: ignore[operator]
    if refused is not None:
        with pytest.raises(Forbidden):
            call(applied, refused)  # type: ignore[operator]


def test_audit_export_is_refused_before_any_line(applied: Harbourmaster) -> None:
    with pytest.raises(Forbidden):
        audit_log.export_lines(applied, MEMBER)  # refused when called, not when first iterated


def test_a_refused_token_is_not_issued(applied: Harbourmaster) -> None:
    with pytest.raises(Forbidden):
        issue_token(applied, PLATFORM, user="platform", name="mine")
    assert list_tokens(applied, ADMIN) == []
