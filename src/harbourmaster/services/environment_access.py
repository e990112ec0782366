"""Who may decide on an environment, and finding the environment a caller names.

Shared by decisions and ``resolve``; it needs neither the registry client nor the
network, so a decision that does not pin digests does not import them.
"""

from __future__ import annotations

from harbourmaster.domain.authz import NodeRole, Permission, Principal, require
from harbourmaster.domain.decision import GovernanceSnapshot
from harbourmaster.domain.model import Environment, Role
from harbourmaster.domain.spelling import did_you_mean
from harbourmaster.errors import Forbidden, NotFound
from harbourmaster.services.core import Harbourmaster

__all__ = ["authorise_environment", "named_environment"]


def authorise_environment(hm: Harbourmaster, principal: Principal, environment: str) -> None:
    """Raises:
    Forbidden: ``principal`` may not check (or resolve) on ``environment``.
    """
    require(principal, Permission.DECISION_CHECK)
    if principal.role is NodeRole.NODE and principal.environment != environment:
        raise Forbidden(
            f"{principal.name} is a node of environment {principal.environment}, not of {environment}"
        )
    if principal.role is Role.TEAM_MEMBER:
        users = hm.snapshot().environment_users.get(environment, frozenset())
        if principal.name not in users:
            raise Forbidden(f"{principal.name} has no access to environment {environment}")


def named_environment(snapshot: GovernanceSnapshot, name: str) -> Environment:
    """The environment called ``name``.

    Raises:
        NotFound: there is none; the message names the closest one ("did you mean").
    """
    env = snapshot.environments.get(name)
    if env is None:
        raise NotFound(f"environment {name} is not defined{did_you_mean(name, snapshot.environments)}")
    return env
