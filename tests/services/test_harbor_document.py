"""A managed Harbor in the governance document: what apply accepts and refuses (with the field), and that
export writes it back so it applies as a no-op."""

from __future__ import annotations

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.errors import BadInput
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.export import export_yaml
from tests.fakes.core import unit_core

ADMIN = Principal("admin", Role.ADMINISTRATOR)

REGISTRY = """\
  - name: harbor-m
    provider: {provider}
    url: https://harbor.corp{scope}{credential}
    manage: true
    management:
      robot_lifetime_days: {lifetime}
      rotate_at: 0.25
      alert_days: 7
      robots: {robots}
"""

DOC = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
{registry}environments:
  - {{name: dev, kind: docker-standalone, tier: development}}
  - {{name: prod, kind: kubernetes, tier: production, namespaces: [apps]}}
users:
  - name: dev-user
access:
  - {{environment: dev, user: dev-user}}
grants:
  - {{registry: harbor-m, environment: dev, users: [dev-user]}}{prod_grant}
"""

ROBOTS = "[{name: ci, access: push, lifetime_days: 30, description: CI pushes}]"


ADMIN_CREDENTIAL = "\n    credential: {kind: user, username: hm-admin, secret: env:HM_T_ADMIN}"


def _doc(*, provider: str = "harbor", scope: str = "\n    scope: apps", lifetime: int = 90,
         robots: str = ROBOTS, prod: bool = True, credential: str = ADMIN_CREDENTIAL) -> str:  # fmt: skip
    registry = REGISTRY.format(provider=provider, scope=scope, credential=credential, lifetime=lifetime,
                               robots=robots)  # fmt: skip
    grant = "\n  - {registry: harbor-m, environment: prod, namespaces: [apps]}" if prod else ""
    return DOC.format(registry=registry, prod_grant=grant)


@pytest.fixture
def hm(monkeypatch: pytest.MonkeyPatch) -> Harbourmaster:
    monkeypatch.setenv("HM_T_ADMIN", "canary-harbor-admin-77a1")
    return unit_core()


def _apply(hm: Harbourmaster, text: str) -> None:
    apply_document(hm, ADMIN, text, source="t.yaml", host=hm.host_files())


def _problems(hm: Harbourmaster, text: str) -> list[str]:
    with pytest.raises(BadInput) as err:
        _apply(hm, text)
    return err.value.details


def test_a_managed_harbor_is_kept_and_exported_back_as_written(hm: Harbourmaster) -> None:
    _apply(hm, _doc())
    reg = hm.state().registry("harbor-m")
    assert reg is not None and reg.management is not None
    assert reg.management.robot_lifetime_days == 90 and reg.management.rotate_at == 0.25
    assert [(r.name, r.access.value, r.lifetime_days) for r in reg.management.robots] == [("ci", "push", 30)]
    exported = export_yaml(hm.state())
    assert "manage: true" in exported and "name: ci" in exported
    assert "canary-harbor-admin-77a1" not in exported
    again = apply_document(hm, ADMIN, exported, source="export.yaml", host=hm.host_files())
    assert again.changes == [], "an export applies back as a no-op"


@pytest.mark.parametrize(("kwargs", "path", "message"), [
    ({"provider": "quay"}, "registries[0].manage", "only a provider: harbor registry can be managed"),
    ({"scope": ""}, "registries[0].scope", "the Harbor project harbourmaster manages"),
    ({"credential": ""}, "registries[0].credential", "administrator or project administrator"),
    ({"robots": "[{name: harbourmaster-pull, access: pull}]"}, "registries[0].management.robots[0].name",
     "is taken"),
    ({"robots": "[{name: ci, access: push}, {name: ci, access: pull}]"},
     "registries[0].management.robots[1].name", "is taken"),
    ({"lifetime": 0}, "registries[0].management.robot_lifetime_days", "must be -1 or positive"),
])  # fmt: skip
def test_a_managed_harbor_refused_names_the_field(
    hm: Harbourmaster, kwargs: dict[str, object], path: str, message: str
) -> None:
    problems = _problems(hm, _doc(**kwargs))  # type: ignore[arg-type]
    assert any(p.startswith(path) and message in p for p in problems), problems
    assert hm.state().registry("harbor-m") is None, "nothing was written"


def test_robots_that_never_expire_are_refused_on_production_only(hm: Harbourmaster) -> None:
    problems = _problems(hm, _doc(lifetime=-1))
    own = "harbourmaster-pull, harbourmaster-push never expire"
    assert any(own in p and "production environment prod" in p for p in problems), problems
    never_ci = _problems(hm, _doc(robots="[{name: ci, access: push, lifetime_days: -1}]"))
    assert any("robot account(s) ci never expire" in p for p in never_ci), never_ci
    _apply(hm, _doc(lifetime=-1, prod=False))
    reg = hm.state().registry("harbor-m")
    assert reg is not None and reg.management is not None and reg.management.robot_lifetime_days is None


def test_management_without_manage_is_refused(hm: Harbourmaster) -> None:
    text = _doc().replace("    manage: true\n", "")
    problems = _problems(hm, text)
    assert any(p.startswith("registries[0].management") and "only with manage: true" in p for p in problems)
