"""The answers of the admission webhook: AdmissionReview responses built from the decisions on an
object's images (see :mod:`harbourmaster.services.admission` for when each is given).

- validating: ``allowed``, and on a denial ``status`` 403 with a message naming each denied image, its
  container path and its first reasons (bounded: :data:`MAX_MESSAGE`); ``warnings`` (each under
  :data:`MAX_WARNING` characters) for advisory findings, tags that could not be pinned and, in
  ``audit`` mode, the denials admitted anyway; ``auditAnnotations`` with the decision id; the audit
  entry queued on the batch writer (never for a dry run);
- mutating: a JSONPatch pinning every allowed image to the digest the verdict checked.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import AdmissionMode, Environment
from harbourmaster.services.audit_batches import AuditQueue
from harbourmaster.services.decision_audit import bounded_images
from harbourmaster.services.decisions import ContentDecision

__all__ = [
    "API_VERSION",
    "MAX_MESSAGE",
    "MAX_WARNING",
    "AdmissionAnswer",
    "cut",
    "denial",
    "error",
    "patch_answer",
    "review_answer",
    "validate_answer",
]

API_VERSION = "admission.k8s.io/v1"
#: The longest ``status.message``: the API server keeps it in events and the client's error.
MAX_MESSAGE = 4000
#: Warnings longer than this are cut (the API server asks for under 120 characters).
MAX_WARNING = 119
MAX_WARNINGS = 20


@dataclass(frozen=True, slots=True)
class AdmissionAnswer:
    """What the surface sends: an HTTP status and a JSON body (an AdmissionReview, or a 400 error)."""

    status_code: int
    body: dict[str, Any]


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error(message: str) -> AdmissionAnswer:
    return AdmissionAnswer(400, {"error": message})


def review_answer(uid: str, response: dict[str, Any]) -> AdmissionAnswer:
    return AdmissionAnswer(
        200, {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": {"uid": uid, **response}}
    )


def denial(uid: str, message: str, **extra: Any) -> AdmissionAnswer:
    status = {"code": 403, "reason": "Forbidden", "message": cut(message, MAX_MESSAGE)}
    return review_answer(uid, {"allowed": False, "status": status, **extra})


def _denied_line(c: ContentDecision) -> str:
    d = c.decision
    reasons = "; ".join(cut(r, 300) for r in d.reasons[:3]) or "denied"
    if c.decision.image is None:
        return reasons
    return f"image {d.image} at {c.subject.field_path}: {reasons}"


def _warnings(results: list[ContentDecision]) -> list[str]:
    out = []
    for c in results:
        verdict = c.decision.verdict or {}
        vulns = verdict.get("vulnerabilities")
        if c.decision.allowed and isinstance(vulns, dict) and vulns.get("status") == "advisory":
            reason = (vulns.get("reasons") or ["advisory findings"])[0]
            out.append(f"{c.decision.image}: {reason}")
        if c.decision.allowed and c.decision.digest_error:
            out.append(f"{c.decision.image} not pinned: {c.decision.digest_error}")
    return out


def validate_answer(
    env: Environment,
    uid: str,
    results: list[ContentDecision],
    problem: str | None,
    context: dict[str, Any],
    principal: Principal,
    audit: AuditQueue | None,
) -> AdmissionAnswer:
    denied = [_denied_line(c) for c in results if not c.decision.allowed]
    if problem is not None:
        denied.insert(0, problem)
    enforce = env.admission is AdmissionMode.ENFORCE
    decision_id = uuid.uuid4().hex
    dry_run = bool(context["dry_run"])
    warnings = _warnings(results)
    if denied and not enforce:
        warnings = [f"harbourmaster audit mode, would deny: {line}" for line in denied] + warnings
    fingerprints = sorted(
        {str(c.decision.verdict["policy_fingerprint"]) for c in results if c.decision.verdict}
    )
    verdict = "denied" if denied else "allowed"
    annotations = {
        "decision-id": decision_id,
        "verdict": verdict,
        "mode": env.admission.value,
        "recorded": "false (dry run: not recorded as a deployment)" if dry_run else "true",
    }
    if fingerprints:
        annotations["policy-fingerprint"] = fingerprints[0]
    if audit is not None and not dry_run:
        rows = [
            {
                "image": c.decision.image,
                "normalized": c.decision.normalized,
                "registry": c.decision.registry,
                "allowed": c.decision.allowed,
                "digest": c.decision.digest,
                **({"digest_error": c.decision.digest_error} if c.decision.digest_error else {}),
                **({"reasons": list(c.decision.reasons)} if not c.decision.allowed else {}),
                **c.audit_row(),
            }
            for c in results
        ]
        audit.record(
            actor=principal.audit_name,
            action="admission",
            target=f"{env.name}/namespace {context['namespace']}",
            result=verdict if enforce or not denied else "denied (admitted: audit mode)",
            details={
                "decision_id": decision_id,
                **context,
                **bounded_images(rows),
                **({"problem": cut(problem, 1000)} if problem else {}),
                **({"policy_fingerprint": fingerprints[0]} if fingerprints else {}),
            },
        )
    extra: dict[str, Any] = {"auditAnnotations": annotations}
    if warnings:
        extra["warnings"] = [cut(w, MAX_WARNING) for w in warnings[:MAX_WARNINGS]]
    if denied and enforce:
        head = (
            f"harbourmaster denied {len(denied)} image(s) for environment {env.name} "
            f"(decision {decision_id}): "
        )
        return denial(uid, head + " | ".join(denied), **extra)
    return review_answer(uid, {"allowed": True, **extra})


def _pointer(field_path: str) -> str:
    """``spec.containers[0].image`` as a JSON pointer: ``/spec/containers/0/image``."""
    parts: list[str] = []
    for segment in field_path.split("."):
        name, *indexes = segment.split("[")
        parts.append(name.replace("~", "~0").replace("/", "~1"))
        parts.extend(i.rstrip("]") for i in indexes)
    return "/" + "/".join(parts)


def patch_answer(uid: str, results: list[ContentDecision], problem: str | None) -> AdmissionAnswer:
    """Allowed, with a JSONPatch pinning each allowed image to its checked digest; nothing to patch
    when anything is denied (the validating webhook refuses the object)."""
    if problem is not None or any(not c.decision.allowed for c in results):
        return review_answer(uid, {"allowed": True})
    ops = []
    for c in results:
        d = c.decision
        if d.image is None or d.digest is None or "@" in d.image or c.extraction != "known":
            continue
        ops.append(
            {"op": "replace", "path": _pointer(c.subject.field_path), "value": f"{d.image}@{d.digest}"}
        )
    if not ops:
        return review_answer(uid, {"allowed": True})
    patch = base64.b64encode(json.dumps(ops, separators=(",", ":")).encode()).decode()
    return review_answer(uid, {"allowed": True, "patchType": "JSONPatch", "patch": patch})
