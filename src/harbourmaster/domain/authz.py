"""Who may do what: the role policy every surface enforces.

Roles are global (administrator, platform-engineer, auditor) except
team-member, which is held per environment through access entries.  Every API
route and every service entry point names one :class:`Permission`.

A Kubernetes node's kubelet credential provider authenticates with a node token: its principal has
the :class:`NodeRole` ``node``, bound to one environment.  No governance-document user can hold it
(users' roles are :class:`~harbourmaster.domain.model.Role`), and it carries only
:data:`Permission.PULL_CREDENTIALS` and, for the verdict behind them, :data:`Permission.DECISION_CHECK`
on its own environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from harbourmaster.domain.model import Role
from harbourmaster.errors import Forbidden

__all__ = ["PERMISSIONS", "NodeRole", "Permission", "Principal", "require"]


class Permission(StrEnum):
    GOVERNANCE_READ = "governance.read"
    GOVERNANCE_WRITE = "governance.write"
    IDENTITY_WRITE = "identity.write"
    DECISION_CHECK = "decision.check"
    REGISTRY_PROBE = "registry.probe"
    AUDIT_READ = "audit.read"
    TOKEN_CREATE = "token.create"
    TOKEN_ADMIN = "token.admin"
    KEYS_ROTATE = "keys.rotate"
    VULNDB_WRITE = "vulndb.write"
    IMAGE_SIGN = "image.sign"
    SIGNATURE_VERIFY = "signature.verify"
    DEPLOY = "deployment.write"
    PULL_CREDENTIALS = "pull-credentials.issue"


class NodeRole(StrEnum):
    """The role of a node token: a kubelet asking for pull credentials, never a user."""

    NODE = "node"


#: Every user role; the node role is not among them.
_ALL: Final = frozenset[Role | NodeRole](Role)

PERMISSIONS: Final[dict[Permission, frozenset[Role | NodeRole]]] = {
    Permission.GOVERNANCE_READ: _ALL,
    Permission.GOVERNANCE_WRITE: frozenset({Role.ADMINISTRATOR, Role.PLATFORM_ENGINEER}),
    Permission.IDENTITY_WRITE: frozenset({Role.ADMINISTRATOR}),
    # Team members may check only on environments they have access to, nodes only on their own
    # environment (the verdict behind a pull credential); the decision service checks that part.
    Permission.DECISION_CHECK: frozenset(
        {Role.ADMINISTRATOR, Role.PLATFORM_ENGINEER, Role.TEAM_MEMBER, NodeRole.NODE}
    ),
    # Testing and browsing a registry use its stored credential against the
    # whole registry, not one environment's grant: registry operators only.
    Permission.REGISTRY_PROBE: frozenset({Role.ADMINISTRATOR, Role.PLATFORM_ENGINEER}),
    Permission.AUDIT_READ: frozenset({Role.ADMINISTRATOR, Role.AUDITOR}),
    Permission.TOKEN_CREATE: frozenset({Role.ADMINISTRATOR}),
    # Listing and revoking every user's tokens.
    Permission.TOKEN_ADMIN: frozenset({Role.ADMINISTRATOR}),
    Permission.KEYS_ROTATE: frozenset({Role.ADMINISTRATOR}),
    # Importing advisories changes what every scan and gate reports; reading and scanning
    # need only GOVERNANCE_READ.
    Permission.VULNDB_WRITE: frozenset({Role.ADMINISTRATOR, Role.PLATFORM_ENGINEER}),
    # Signing vouches for an image on every tier that trusts the key: registry operators only.
    Permission.IMAGE_SIGN: frozenset({Role.ADMINISTRATOR, Role.PLATFORM_ENGINEER}),
    # Verifying against an environment's policy: every role (team members only where they have
    # access; the signing service checks that part).
    Permission.SIGNATURE_VERIFY: _ALL,
    # Deploying to an environment: team members only where they have access, and on Docker and Swarm
    # only as themselves (the deployment service checks both).
    Permission.DEPLOY: frozenset({Role.ADMINISTRATOR, Role.PLATFORM_ENGINEER, Role.TEAM_MEMBER}),
    # A registry credential for one pull, on the node's own environment only (the service checks).
    Permission.PULL_CREDENTIALS: frozenset({NodeRole.NODE}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated actor: a user with a role, or the local operator.

    ``token_id`` names the API token the request authenticated with (None for
    the local operator), so audit records can say which token acted.  A node's principal
    (role :attr:`NodeRole.NODE`) also names the node and the one environment it belongs to.
    """

    name: str
    role: Role | NodeRole
    token_id: int | None = None
    node: str | None = field(default=None, kw_only=True)
    environment: str | None = field(default=None, kw_only=True)

    @property
    def is_node(self) -> bool:
        return self.role is NodeRole.NODE

    @property
    def audit_name(self) -> str:
        return self.name


def require(principal: Principal, permission: Permission) -> None:
    """Raises:
    Forbidden: ``principal``'s role does not carry ``permission``.
    """
    if principal.role not in PERMISSIONS[permission]:
        raise Forbidden(
            f"{principal.name} ({principal.role.value}) may not {permission.value}; "
            f"allowed roles: {', '.join(sorted(r.value for r in PERMISSIONS[permission]))}"
        )
