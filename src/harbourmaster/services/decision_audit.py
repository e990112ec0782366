"""The audit entry of a deployment decision: who tried to deploy what, where, and each image's verdict.

One entry per decision (per tenant, for deployment content), with a row per
image: its normalized reference, registry, verdict, the digest it was pinned
to (or why none), and the reasons for a denial.  The rows are bounded
(:func:`bounded_images`), so one request naming many images cannot make an
entry of unbounded size, yet the entry still commits to every image.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.decision import Decision, Tenant
from harbourmaster.services.core import Harbourmaster

__all__ = ["AUDITED_IMAGES_IN_FULL", "bounded_images", "record_decisions"]


def record_decisions(
    hm: Harbourmaster,
    principal: Principal,
    *,
    environment: str,
    tenant: Tenant,
    decisions: Sequence[Decision],
    digest_errors: Sequence[str | None] | None = None,
    extras: Sequence[dict[str, object]] | None = None,
) -> None:
    """One audit entry for ``decisions``; ``extras`` adds (or overrides) fields of each image's row.

    Raises:
        StoreError: the database failed (the entry is not written).
    """
    denied = [d for d in decisions if not d.allowed]
    fingerprints = sorted({str(d.verdict["policy_fingerprint"]) for d in decisions if d.verdict})
    with hm.store.transaction() as tx:
        tx.audit.append(
            actor=principal.audit_name,
            action="decision",
            target=f"{environment}/{tenant.describe()}",
            result="denied" if denied else "allowed",
            details=bounded_images(
                [
                    {
                        "image": d.image,
                        "normalized": d.normalized,
                        "registry": d.registry,
                        "allowed": d.allowed,
                        "digest": d.digest,
                        **({"digest_error": error} if error else {}),
                        **({"reasons": _denial_reasons(d)} if not d.allowed else {}),
                        **(_verdict_summary(d) if d.verdict is not None else {}),
                        **extra,
                    }
                    for d, error, extra in zip(
                        decisions,
                        digest_errors or [None] * len(decisions),
                        extras or [{}] * len(decisions),
                        strict=True,
                    )
                ]
            )
            | ({"policy_fingerprint": fingerprints[0]} if fingerprints else {}),
        )


_PARTS = ("source", "vulnerabilities", "signature")


def _verdict_summary(decision: Decision) -> dict[str, object]:
    """The verdict's parts as the audit keeps them: each part's status (the rules' fingerprint is
    kept once per entry)."""
    verdict = decision.verdict or {}
    return {
        "verdict": {part: verdict[part]["status"] for part in _PARTS if isinstance(verdict.get(part), dict)}
    }


def _denial_reasons(decision: Decision) -> list[str]:
    """Why ``decision`` denies: with a verdict, the reasons of the parts that deny."""
    if decision.verdict is None:
        return list(decision.reasons)
    return [
        reason
        for part in _PARTS
        if isinstance(decision.verdict.get(part), dict)
        and not decision.verdict[part]["allowed"]
        and decision.verdict[part]["status"] != "skipped"
        for reason in decision.verdict[part]["reasons"]
    ]


#: Images recorded in full in a decision's audit entry; the rest are summarised.
AUDITED_IMAGES_IN_FULL = 100


def bounded_images(rows: list[dict[str, object]]) -> dict[str, object]:
    """The ``images`` of an audit entry, bounded: at most :data:`AUDITED_IMAGES_IN_FULL`
    in full (in order; denied images first when there are more), and for the rest
    their count and the SHA-256 of their canonical JSON, so the entry still
    commits to every image.
    """
    ordered = rows
    if len(rows) > AUDITED_IMAGES_IN_FULL:
        ordered = sorted(rows, key=lambda r: bool(r.get("allowed")))  # stable: denied first
    full, rest = ordered[:AUDITED_IMAGES_IN_FULL], ordered[AUDITED_IMAGES_IN_FULL:]
    out: dict[str, object] = {"images": full, "count": len(rows)}
    if rest:
        canonical = json.dumps(rest, sort_keys=True, separators=(",", ":"), default=str)
        out["omitted"] = {
            "count": len(rest),
            "allowed": sum(1 for r in rest if r.get("allowed")),
            "sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        }
    return out
