"""Kubernetes admission reviews (``admission.k8s.io/v1``): the image policy verdict on a workload.

The webhook surface hands over the raw request body; this module reads the AdmissionReview, takes
the verdict on every image of the object (:func:`~harbourmaster.services.decisions.check_content`, on
the in-memory policy snapshot, within ``HARBOURMASTER_ADMISSION_BUDGET_SECONDS``) and answers:

- ``allowed``, and on a denial ``status`` 403 with a message naming each denied image, its container
  path and its first reasons (bounded: :data:`MAX_MESSAGE`);
- ``warnings`` (each under :data:`MAX_WARNING` characters) for advisory findings, tags that could not
  be pinned and, in ``audit`` mode, the denials admitted anyway;
- ``auditAnnotations``: the decision id (``decision-id``, also in the audit entry's details), the
  verdict, the mode, and whether the review was recorded;
- for the mutating webhook, a JSONPatch pinning every allowed image to the digest the verdict checked.

Who decides: the webhook acts as :func:`webhook_principal`, built here and never from a token.

Bad input never makes an error page: a review with a ``uid`` always gets an AdmissionReview (a
request that cannot be read follows the environment's failure policy, content that cannot be judged
is denied in ``enforce`` mode and admitted with a warning in ``audit`` mode); a body without a
``uid`` gets 400 with a JSON error, which the API server treats as a failed call (its failurePolicy).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import AdmissionMode, Environment, FailurePolicy, Role
from harbourmaster.errors import BadInput, Error, NotFound
from harbourmaster.services.audit_batches import AuditBatchWriter
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.decision_audit import bounded_images
from harbourmaster.services.decisions import ContentDecision, check_content

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_MESSAGE",
    "MAX_WARNING",
    "SUPPORTED_KINDS",
    "AdmissionAnswer",
    "review",
    "webhook_principal",
]

log = logging.getLogger(__name__)

API_VERSION = "admission.k8s.io/v1"
#: The largest AdmissionReview read (the API server sends at most about 3 MiB of object).
MAX_BODY_BYTES = 2 * 1024 * 1024
#: The longest ``status.message``: the API server keeps it in events and the client's error.
MAX_MESSAGE = 4000
#: Warnings longer than this are cut (the API server asks for under 120 characters).
MAX_WARNING = 119
MAX_WARNINGS = 20
#: (API group, kind) of the objects the webhook judges.
SUPPORTED_KINDS = frozenset(
    {
        ("", "Pod"),
        ("apps", "Deployment"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("apps", "ReplicaSet"),
        ("", "ReplicationController"),
        ("batch", "Job"),
        ("batch", "CronJob"),
    }
)
_UID = re.compile(rb'"uid"\s*:\s*"([A-Za-z0-9._:-]{1,128})"')


def webhook_principal(environment: str) -> Principal:
    """Who the webhook decides as: ``webhook:<environment>``, a platform role used only for checks.

    It exists only inside ``webhook serve`` (no token maps to it; the server has no other route that
    acts), and its audit name says which environment's webhook decided.
    """
    return Principal(f"webhook:{environment}", Role.PLATFORM_ENGINEER)


@dataclass(frozen=True, slots=True)
class AdmissionAnswer:
    """What the surface sends: an HTTP status and a JSON body (an AdmissionReview, or a 400 error)."""

    status_code: int
    body: dict[str, Any]


@dataclass(slots=True)
class _Request:
    uid: str
    environment: str
    raw: Mapping[str, Any]
    kind: tuple[str, str] = ("", "")
    warnings: list[str] = field(default_factory=list)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _error(message: str) -> AdmissionAnswer:
    return AdmissionAnswer(400, {"error": message})


def _review(uid: str, response: dict[str, Any]) -> AdmissionAnswer:
    return AdmissionAnswer(
        200, {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": {"uid": uid, **response}}
    )


def _denial(uid: str, message: str, **extra: Any) -> AdmissionAnswer:
    status = {"code": 403, "reason": "Forbidden", "message": _cut(message, MAX_MESSAGE)}
    return _review(uid, {"allowed": False, "status": status, **extra})


def _uid_in(body: bytes) -> str | None:
    """The request's uid from a body that cannot be parsed whole (too large): the first ``uid`` after
    ``"request"``; when it is another object's, the API server ignores the answer (failure policy)."""
    at = body.find(b'"request"')
    match = _UID.search(body, at if at >= 0 else 0)
    return match.group(1).decode() if match else None


def _unreadable(hm: Harbourmaster, environment: str, uid: str, reason: str) -> AdmissionAnswer:
    """A review that cannot be read at all: the environment's failure policy decides."""
    env = hm.snapshot().environments.get(environment)
    failure = env.effective_failure_policy if env is not None else FailurePolicy.FAIL
    message = f"harbourmaster cannot read this admission review: {reason}"
    if failure is FailurePolicy.IGNORE:
        return _review(
            uid, {"allowed": True, "warnings": [_cut(f"{message} (failurePolicy Ignore)", MAX_WARNING)]}
        )
    return _denial(uid, f"{message} (failurePolicy Fail)")


def _parse(body: bytes, environment: str) -> _Request | AdmissionAnswer | tuple[str, str]:
    """The review, a 400 answer (no uid), or (uid, why it cannot be read)."""
    if len(body) > MAX_BODY_BYTES:
        uid = _uid_in(body[: 64 * 1024])
        reason = f"the request is larger than {MAX_BODY_BYTES} bytes"
        return (uid, reason) if uid else _error(f"{reason}, and no request uid was found")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return _error(f"the body is not JSON: {_cut(str(exc), 200)}")
    if not isinstance(document, dict):
        return _error("the body is not an AdmissionReview (a JSON object)")
    request = document.get("request")
    uid = request.get("uid") if isinstance(request, dict) else None
    if not isinstance(uid, str) or not uid or len(uid) > 128:
        return _error("the AdmissionReview has no request.uid")
    if document.get("apiVersion") != API_VERSION or document.get("kind") != "AdmissionReview":
        api = _cut(repr(document.get("apiVersion")), 60)
        kind = _cut(repr(document.get("kind")), 60)
        return uid, f"apiVersion {api} kind {kind} is not an {API_VERSION} AdmissionReview"
    assert isinstance(request, dict)
    found = request.get("kind")
    group, kind = "", ""
    if isinstance(found, dict):
        group = _text(found.get("group")) or ""
        kind = _text(found.get("kind")) or ""
    return _Request(uid=uid, environment=environment, raw=request, kind=(group, kind))


def review(
    hm: Harbourmaster,
    *,
    environment: str,
    body: bytes,
    mutate: bool = False,
    audit: AuditBatchWriter | None = None,
) -> AdmissionAnswer:
    """Answer one AdmissionReview ``body`` for ``environment`` (validating, or ``mutate``: patching).

    Never raises: every failure is an answer (see the module documentation).  The validating review
    queues its audit entry on ``audit`` (nothing is recorded for a dry run, or by ``mutate``).
    """
    parsed = _parse(body, environment)
    if isinstance(parsed, AdmissionAnswer):
        return parsed
    if isinstance(parsed, tuple):
        return _unreadable(hm, environment, *parsed)
    try:
        with hm.one_view():  # one read of the model's revision for the whole review
            return _judge(hm, parsed, mutate=mutate, audit=audit)
    except Error as exc:
        log.warning("admission review %s could not be decided: %s", parsed.uid, exc.message)
        return _unreadable(hm, environment, parsed.uid, f"harbourmaster could not decide: {exc.message}")
    except Exception as exc:  # a defect: named by type, never quoting what a lower layer said
        log.exception("admission review %s failed", parsed.uid)
        return _unreadable(hm, environment, parsed.uid, f"harbourmaster failed ({type(exc).__name__})")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _object(request: _Request) -> dict[str, Any] | str:
    """The object to judge, with its apiVersion and kind (from the request when it does not say)."""
    obj = request.raw.get("object")
    if not isinstance(obj, dict):
        return "the request has no object to judge (request.object is missing or not an object)"
    group, kind = request.kind
    version = (request.raw.get("kind") or {}).get("version") or "v1"
    api_version = f"{group}/{version}" if group else str(version)
    obj = dict(obj)
    obj.setdefault("apiVersion", api_version)
    obj.setdefault("kind", kind)
    return obj


def _judge(
    hm: Harbourmaster, request: _Request, *, mutate: bool, audit: AuditBatchWriter | None
) -> AdmissionAnswer:
    snapshot = hm.snapshot()
    env = snapshot.environments.get(request.environment)
    uid = request.uid
    if env is None:
        return _denial(
            uid,
            f"harbourmaster has no environment {request.environment!r}: the webhook URL "
            f"(/validate/ENVIRONMENT) names an environment that is not defined",
        )
    operation = _text(request.raw.get("operation")) or ""
    if operation not in ("CREATE", "UPDATE"):
        return _review(uid, {"allowed": True})
    subresource = _text(request.raw.get("subresource")) or ""
    if subresource and not (request.kind == ("", "Pod") and subresource == "ephemeralcontainers"):
        return _review(uid, {"allowed": True})
    namespace = _text(request.raw.get("namespace"))
    user_info = request.raw.get("userInfo")
    context = {
        "kind": "/".join(p for p in request.kind if p) or None,
        "name": _text(request.raw.get("name")),
        "namespace": namespace,
        "operation": operation,
        "kubernetes_user": _text(user_info.get("username")) if isinstance(user_info, dict) else None,
        "mode": env.admission.value,
        "dry_run": request.raw.get("dryRun") is True,
        "uid": uid,
    }
    principal = webhook_principal(env.name)
    obj: dict[str, Any] | str
    if request.kind not in SUPPORTED_KINDS:
        kinds = ", ".join(sorted(k for _, k in SUPPORTED_KINDS))
        obj = f"kind {context['kind'] or '(none)'} is not one the harbourmaster webhook judges ({kinds})"
    else:
        obj = _object(request)
    results: list[ContentDecision] = []
    problem = obj if isinstance(obj, str) else None
    if isinstance(obj, dict):
        try:
            results, _ = check_content(
                hm,
                principal,
                environment=env.name,
                text="",
                source=f"{context['kind']}/{context['name'] or ''}",
                namespace=namespace,
                documents=[obj],
                budget=hm.settings.admission_budget_seconds,
                record=False,
            )
        except (BadInput, NotFound) as exc:  # content that cannot be judged: the mode decides
            problem = exc.message + "".join(f"; {d}" for d in exc.details[:5])
    if mutate:
        return _patch_answer(uid, results, problem)
    return _validate_answer(hm, env, uid, results, problem, context, principal, audit)


def _denied_line(c: ContentDecision) -> str:
    d = c.decision
    reasons = "; ".join(_cut(r, 300) for r in d.reasons[:3]) or "denied"
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


def _validate_answer(
    hm: Harbourmaster,
    env: Environment,
    uid: str,
    results: list[ContentDecision],
    problem: str | None,
    context: dict[str, Any],
    principal: Principal,
    audit: AuditBatchWriter | None,
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
                **({"problem": _cut(problem, 1000)} if problem else {}),
                **({"policy_fingerprint": fingerprints[0]} if fingerprints else {}),
            },
        )
    extra: dict[str, Any] = {"auditAnnotations": annotations}
    if warnings:
        extra["warnings"] = [_cut(w, MAX_WARNING) for w in warnings[:MAX_WARNINGS]]
    if denied and enforce:
        head = (
            f"harbourmaster denied {len(denied)} image(s) for environment {env.name} "
            f"(decision {decision_id}): "
        )
        return _denial(uid, head + " | ".join(denied), **extra)
    return _review(uid, {"allowed": True, **extra})


def _pointer(field_path: str) -> str:
    """``spec.containers[0].image`` as a JSON pointer: ``/spec/containers/0/image``."""
    parts: list[str] = []
    for segment in field_path.split("."):
        name, *indexes = segment.split("[")
        parts.append(name.replace("~", "~0").replace("/", "~1"))
        parts.extend(i.rstrip("]") for i in indexes)
    return "/" + "/".join(parts)


def _patch_answer(uid: str, results: list[ContentDecision], problem: str | None) -> AdmissionAnswer:
    """Allowed, with a JSONPatch pinning each allowed image to its checked digest; nothing to patch
    when anything is denied (the validating webhook refuses the object)."""
    if problem is not None or any(not c.decision.allowed for c in results):
        return _review(uid, {"allowed": True})
    ops = []
    for c in results:
        d = c.decision
        if d.image is None or d.digest is None or "@" in d.image or c.extraction != "known":
            continue
        ops.append(
            {"op": "replace", "path": _pointer(c.subject.field_path), "value": f"{d.image}@{d.digest}"}
        )
    if not ops:
        return _review(uid, {"allowed": True})
    patch = base64.b64encode(json.dumps(ops, separators=(",", ":")).encode()).decode()
    return _review(uid, {"allowed": True, "patchType": "JSONPatch", "patch": patch})
