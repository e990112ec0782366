"""The ``signing`` section and the tiers' signer lists, kept in ``meta`` rows as JSON.

Trust material is public (public keys, certificates, the sigstore trusted root,
the Notation trust policy): it is stored as the text that was applied, and parsed
where it is used.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from harbourmaster.domain.model import Tier
from harbourmaster.domain.signers import SignersRequired
from harbourmaster.domain.signing_trust import (
    NotationTrust,
    NotationTrustStoreConfig,
    SigningTrust,
    TrustedIdentity,
    TrustedKey,
)
from harbourmaster.domain.tiers import TierPolicy
from harbourmaster.store.meta import get_meta, set_meta

__all__ = ["load_signing", "load_tier_signers", "save_signing"]


def load_signing(session: Session) -> SigningTrust:
    """The stored ``signing`` section (empty when none was applied)."""
    value: dict[str, Any] = get_meta(session, "signing") or {}
    notation: dict[str, Any] = value.get("notation") or {}
    return SigningTrust(
        keys=tuple(TrustedKey(k["name"], k["public_key_pem"]) for k in value.get("keys", [])),
        identities=tuple(TrustedIdentity(i["name"], i["issuer"], i["subject_regex"])
                         for i in value.get("identities", [])),
        trusted_root_json=value.get("trusted_root_json"),
        notation=NotationTrust(
            trust_stores=tuple(NotationTrustStoreConfig(s["name"], s["type"], s["certificates_pem"])
                               for s in notation.get("trust_stores", [])),
            trust_policy_json=notation.get("trust_policy_json"),
            policy_names=tuple(notation.get("policy_names", [])),
        ),
    )


def load_tier_signers(session: Session, tiers: dict[Tier, TierPolicy]) -> dict[Tier, TierPolicy]:
    """``tiers`` with their stored signer lists."""
    value: dict[str, Any] = get_meta(session, "tier_signers") or {}
    out = dict(tiers)
    for name, entry in value.items():
        tier = Tier(name)
        if tier in out:
            out[tier] = replace(out[tier], signers=tuple(entry.get("signers", [])),
                                signers_required=SignersRequired(entry.get("required", "any")))
    return out


def save_signing(session: Session, trust: SigningTrust, tiers: dict[Tier, TierPolicy]) -> None:
    """Store the ``signing`` section and every tier's signers."""
    set_meta(session, "signing", {
        "keys": [{"name": k.name, "public_key_pem": k.public_key_pem} for k in trust.keys],
        "identities": [{"name": i.name, "issuer": i.issuer, "subject_regex": i.subject_regex}
                       for i in trust.identities],
        "trusted_root_json": trust.trusted_root_json,
        "notation": {
            "trust_stores": [{"name": s.name, "type": s.type, "certificates_pem": s.certificates_pem}
                             for s in trust.notation.trust_stores],
            "trust_policy_json": trust.notation.trust_policy_json,
            "policy_names": list(trust.notation.policy_names),
        },
    })
    set_meta(session, "tier_signers", {
        tier.value: {"signers": list(policy.signers), "required": policy.signers_required.value}
        for tier, policy in tiers.items()
    })
