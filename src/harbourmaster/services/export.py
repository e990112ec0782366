"""``harbourmaster export``: the current model as a governance document, without secrets.

The output applies back cleanly: a credential without ``secret`` keeps the
stored one, and a scheduled mirror's ImageSet is written inline as the text
applied, so export → apply is a no-op.
"""

from __future__ import annotations

from typing import Any

import yaml

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.harbor_management import management_document
from harbourmaster.domain.mirror_schedules import MirrorSchedule
from harbourmaster.domain.model import (
    AdmissionMode,
    EnvironmentConnection,
    EnvironmentKind,
    Registry,
    RegistryGrant,
    TlsSettings,
)
from harbourmaster.domain.signing_trust import SigningTrust
from harbourmaster.domain.state import GovernanceState
from harbourmaster.domain.tiers import DEFAULT_TIER_POLICIES, TierPolicy
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.document import API_VERSION

__all__ = ["export_document", "export_model", "export_yaml", "registry_document"]


def registry_document(reg: Registry) -> dict[str, Any]:
    out: dict[str, Any] = {"name": reg.name, "provider": reg.provider.value, "url": reg.url}
    if reg.scope:
        out["scope"] = reg.scope
    if reg.declared_public:
        out["public"] = True
    if reg.oci_artifacts:
        out["oci_artifacts"] = True
    out.update(dict(reg.provider_fields))
    if reg.credential is not None:
        cred: dict[str, Any] = {"kind": reg.credential.kind.value, "username": reg.credential.username}
        if reg.credential.expires is not None:
            cred["expires"] = reg.credential.expires.isoformat()
        out["credential"] = cred
    tls = _tls_document(reg.tls)
    if tls:
        out["tls"] = tls
    if reg.management is not None:
        out["manage"] = True
        out["management"] = management_document(reg.management)
    return out



def _tls_document(settings: TlsSettings) -> dict[str, Any]:
    """TLS settings as the document writes them; the client key stays in the vault (omitted, the
    stored one is kept when applied back)."""
    tls: dict[str, Any] = {}
    if settings.ca_bundle:
        tls["ca_bundle"] = settings.ca_bundle
    if settings.client_certificate:
        tls["client_certificate"] = settings.client_certificate
    if settings.insecure:
        tls["insecure"] = True
    return tls


def _connection_document(connection: EnvironmentConnection) -> dict[str, Any]:
    """An environment's connection as the document writes it: no token, no client key (kept when
    applied back)."""
    out: dict[str, Any] = {}
    for name in ("endpoint", "api_server", "service_account_issuer", "jwks"):
        value = getattr(connection, name)
        if value is not None:
            out[name] = value
    tls = _tls_document(connection.tls)
    if tls:
        out["tls"] = tls
    return out


def _grants(state: GovernanceState) -> list[dict[str, Any]]:
    grouped: dict[tuple[str, str], dict[str, list[str]]] = {}
    for g in state.grants:
        entry = grouped.setdefault((g.registry, g.environment), {"namespaces": [], "teams": [], "users": []})
        _grantee_list(entry, g).append(g.namespace or g.team or g.user or "")
    out = []
    for (registry, environment), entry in sorted(grouped.items()):
        item: dict[str, Any] = {"registry": registry, "environment": environment}
        item.update({k: sorted(v) for k, v in entry.items() if v})
        out.append(item)
    return out


def _grantee_list(entry: dict[str, list[str]], g: RegistryGrant) -> list[str]:
    if g.namespace is not None:
        return entry["namespaces"]
    return entry["teams"] if g.team is not None else entry["users"]


def export_document(state: GovernanceState) -> dict[str, Any]:
    """The governance document describing ``state`` (no secret, no built-in registry)."""
    tiers = {
        tier.value: {
            "block_severity": p.block_severity,
            "advisory_severity": p.advisory_severity,
            "require_signature": p.require_signature,
            "ignore_unfixed": p.ignore_unfixed,
            "unscanned": p.unscanned.value,
            "require_approved_content": p.require_approved_content,
            **_tier_signers(p),
        }
        for tier, p in sorted(state.tiers.items())
        if p != DEFAULT_TIER_POLICIES.get(tier)
    }
    doc: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Governance",
        "registries": [
            registry_document(r) for r in sorted(state.registries, key=lambda r: r.name) if not r.builtin
        ],
        "environments": [
            {
                "name": e.name,
                "kind": e.kind.value,
                "tier": e.tier.value,
                **({"group": e.group} if e.group else {}),
                **({"namespaces": list(e.namespaces)} if e.kind is EnvironmentKind.KUBERNETES else {}),
                **({"hide_dockerhub_anonymous": True} if e.hide_dockerhub_anonymous else {}),
                **({"admission": e.admission.value} if e.admission is not AdmissionMode.ENFORCE else {}),
                **({"failure_policy": e.failure_policy.value} if e.failure_policy is not None else {}),
                **_connection_document(e.connection),
            }
            for e in sorted(state.environments, key=lambda e: e.name)
        ],
        "users": [{"name": u.name, "role": u.role.value} for u in sorted(state.users, key=lambda u: u.name)],
        "teams": [
            {"name": t.name, "members": sorted(t.members)} for t in sorted(state.teams, key=lambda t: t.name)
        ],
        "access": [
            {
                "environment": a.environment,
                **({"team": a.team} if a.team else {"user": a.user}),
                "role": a.role.value,
            }
            for a in sorted(state.access, key=lambda a: (a.environment, a.team or "", a.user or ""))
        ],
        "grants": _grants(state),
        "settings": {"hide_dockerhub_anonymous": state.hide_dockerhub_anonymous},
    }
    if state.content_ignore_kinds:
        doc["content"] = {
            "ignore_kinds": [
                {"apiVersion": k.api_version, "kind": k.kind}
                for k in sorted(state.content_ignore_kinds, key=lambda k: (k.api_version, k.kind))
            ]
        }
    if tiers:
        doc["tiers"] = tiers
    signing = _signing(state.signing)
    if signing:
        doc["signing"] = signing
    if state.mirrors:
        doc["mirrors"] = [_mirror(m) for m in sorted(state.mirrors, key=lambda m: m.name)]
    if state.allowlist:
        doc["allowlist"] = [
            {
                "id": a.advisory,
                **({"registry": a.registry} if a.registry else {}),
                "expires": a.expires.isoformat(),
                "reason": a.reason,
            }
            for a in sorted(state.allowlist, key=lambda a: (a.advisory, a.registry or ""))
        ]
    return doc


def _mirror(mirror: MirrorSchedule) -> dict[str, Any]:
    """A scheduled mirror, its ImageSet inline as the text that was applied (a ``file:`` reference was
    read at apply time: the file is not needed to apply the export back)."""
    out: dict[str, Any] = {"name": mirror.name, "image_set": mirror.image_set, "to": mirror.to}
    if mirror.tier is not None:
        out["tier"] = mirror.tier.value
    out["schedule"] = mirror.schedule
    return out


def _tier_signers(policy: TierPolicy) -> dict[str, Any]:
    if not policy.signers:
        return {}
    return {"signers": list(policy.signers), "signers_required": policy.signers_required.value}


def _signing(trust: SigningTrust) -> dict[str, Any]:
    """The ``signing`` section, its material inline (public keys, certificates, JSON documents)."""
    out: dict[str, Any] = {}
    if trust.keys:
        out["keys"] = [{"name": k.name, "public_key": k.public_key_pem} for k in trust.keys]
    if trust.identities:
        out["identities"] = [{"name": i.name, "issuer": i.issuer, "subject_regex": i.subject_regex}
                             for i in trust.identities]
    if trust.trusted_root_json is not None:
        out["trusted_root"] = trust.trusted_root_json
    notation: dict[str, Any] = {}
    if trust.notation.trust_stores:
        notation["trust_stores"] = [{"name": s.name, "type": s.type, "certificates": s.certificates_pem}
                                    for s in trust.notation.trust_stores]
    if trust.notation.trust_policy_json is not None:
        notation["trust_policy"] = trust.notation.trust_policy_json
    if notation:
        out["notation"] = notation
    return out


def export_yaml(state: GovernanceState) -> str:
    return yaml.safe_dump(export_document(state), sort_keys=False, default_flow_style=False)


def export_model(hm: Harbourmaster, principal: Principal) -> str:
    """The stored model as governance YAML, without secrets (``export``, ``GET /export``).

    Raises:
        Forbidden: the principal may not read the governance model.
    """
    require(principal, Permission.GOVERNANCE_READ)
    return export_yaml(hm.state())
