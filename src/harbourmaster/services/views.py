"""The public view of governance objects: what the API returns and ``--json`` prints.

No view carries a secret; a credential shows only who it is for, whether a
secret is set, and when it expires.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from harbourmaster.domain.model import AccessEntry, Environment, Registry, RegistryGrant, Team, User
from harbourmaster.domain.state import GovernanceState
from harbourmaster.domain.tiers import TierPolicy

__all__ = [
    "access_view",
    "environment_view",
    "grant_view",
    "registry_view",
    "team_view",
    "tier_view",
    "user_view",
]


def registry_view(reg: Registry, *, state: GovernanceState | None = None, today: dt.date) -> dict[str, Any]:
    """The public view of ``reg``; its credential is ``expired`` when it expired before ``today``."""
    cred = reg.credential
    out: dict[str, Any] = {
        "name": reg.name,
        "provider": reg.provider.value,
        "url": reg.url,
        "host": reg.location.host,
        "scope": reg.scope,
        "public": reg.public,
        "builtin": reg.builtin,
        "oci_artifacts": reg.oci_artifacts,
        "provider_fields": dict(reg.provider_fields),
        "tls": {
            "ca_bundle_set": reg.tls.ca_bundle is not None,
            "client_certificate_set": reg.tls.client_certificate is not None,
            "client_key_set": reg.tls.client_key_set,
            "insecure": reg.tls.insecure,
        },
        "credential": None
        if cred is None
        else {
            "kind": cred.kind.value,
            "username": cred.username,
            "secret_set": cred.secret_set,
            "expires": cred.expires.isoformat() if cred.expires else None,
            "expired": cred.expired(today),
        },
    }
    if state is not None:
        hidden = state.hide_dockerhub_anonymous
        out["hidden"] = hidden if reg.builtin else False
        out["grants"] = [grant_view(g) for g in state.grants if g.registry == reg.name]
    return out


def environment_view(env: Environment) -> dict[str, Any]:
    return {
        "name": env.name,
        "kind": env.kind.value,
        "tier": env.tier.value,
        "group": env.group,
        "namespaces": list(env.namespaces),
        "hide_dockerhub_anonymous": env.hide_dockerhub_anonymous,
    }


def user_view(user: User) -> dict[str, Any]:
    return {"name": user.name, "role": user.role.value}


def team_view(team: Team) -> dict[str, Any]:
    return {"name": team.name, "members": list(team.members)}


def access_view(entry: AccessEntry) -> dict[str, Any]:
    return {
        "environment": entry.environment,
        "user": entry.user,
        "team": entry.team,
        "role": entry.role.value,
    }


def grant_view(grant: RegistryGrant) -> dict[str, Any]:
    return {
        "registry": grant.registry,
        "environment": grant.environment,
        "namespace": grant.namespace,
        "user": grant.user,
        "team": grant.team,
    }


def tier_view(policy: TierPolicy) -> dict[str, Any]:
    return {
        "tier": policy.tier.value,
        "block_severity": policy.block_severity,
        "advisory_severity": policy.advisory_severity,
        "require_signature": policy.require_signature,
        "ignore_unfixed": policy.ignore_unfixed,
    }
