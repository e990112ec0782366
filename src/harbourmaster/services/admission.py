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

Answers are built by :mod:`harbourmaster.services.admission_answers`.

Recent verdicts: an :class:`AdmissionReviewer` keeps each settled verdict on an image for a namespace
(:class:`~harbourmaster.services.verdict_cache.RecentVerdicts`, ``HARBOURMASTER_ADMISSION_VERDICT_SECONDS``)
and answers a review whose every image has one on the request's event loop, reading nothing
(:meth:`AdmissionReviewer.quick`); any other review is judged in full (:meth:`AdmissionReviewer.decide`,
on a worker thread).  The subjects of an object are found by the same rules either way
(:mod:`harbourmaster.domain.content_subjects`); a verdict that ran out of time, could not reach a
registry, or found no scan or no verified signature is never kept.

Who decides: the webhook acts as :func:`webhook_principal`, built here and never from a token.

Bad input never makes an error page: a review with a ``uid`` always gets an AdmissionReview (a
request that cannot be read follows the environment's failure policy, content that cannot be judged
is denied in ``enforce`` mode and admitted with a warning in ``audit`` mode); a body without a
``uid`` gets 400 with a JSON error, which the API server treats as a failed call (its failurePolicy).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.content_subjects import content_subjects, prejudge
from harbourmaster.domain.decision import Decision, GovernanceSnapshot, Tenant
from harbourmaster.domain.model import EnvironmentKind, FailurePolicy, Role
from harbourmaster.domain.workload_images import WorkloadImage
from harbourmaster.domain.workloads import images_from_kubernetes
from harbourmaster.errors import BadInput, Error, NotFound
from harbourmaster.services.admission_answers import (
    API_VERSION,
    MAX_MESSAGE,
    MAX_WARNING,
    AdmissionAnswer,
    cut,
    denial,
    error,
    patch_answer,
    review_answer,
    validate_answer,
)
from harbourmaster.services.audit_batches import AuditQueue
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.decisions import ContentDecision, check_content
from harbourmaster.services.verdict_cache import RecentVerdicts

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_MESSAGE",
    "MAX_WARNING",
    "SUPPORTED_KINDS",
    "AdmissionAnswer",
    "AdmissionReviewer",
    "Pending",
    "review",
    "webhook_principal",
]

log = logging.getLogger(__name__)

#: The largest AdmissionReview read (the API server sends at most about 3 MiB of object).
MAX_BODY_BYTES = 2 * 1024 * 1024
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
#: Verdict part statuses that may change as soon as a scan or a verification lands: never kept.
_UNSETTLED = frozenset({"unscanned", "unverified"})


def webhook_principal(environment: str) -> Principal:
    """Who the webhook decides as: ``webhook:<environment>``, a platform role used only for checks.

    It exists only inside ``webhook serve`` (no token maps to it; the server has no other route that
    acts), and its audit name says which environment's webhook decided.
    """
    return Principal(f"webhook:{environment}", Role.PLATFORM_ENGINEER)


@dataclass(slots=True)
class _Request:
    uid: str
    environment: str
    raw: Mapping[str, Any]
    kind: tuple[str, str] = ("", "")
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Pending:
    """A review :meth:`AdmissionReviewer.quick` could not answer: :meth:`AdmissionReviewer.decide` does."""

    environment: str
    mutate: bool
    request: _Request | tuple[str, str]  # the review, or (uid, why it cannot be read)


def _uid_in(body: bytes) -> str | None:
    """The request's uid from a body that cannot be parsed whole (too large): the first ``uid`` after
    ``"request"``; when it is another object's, the API server ignores the answer (failure policy)."""
    at = body.find(b'"request"')
    match = _UID.search(body, at if at >= 0 else 0)
    return match.group(1).decode() if match else None


def _unreadable(snapshot: GovernanceSnapshot, environment: str, uid: str, reason: str) -> AdmissionAnswer:
    """A review that cannot be read at all: the environment's failure policy decides."""
    env = snapshot.environments.get(environment)
    failure = env.effective_failure_policy if env is not None else FailurePolicy.FAIL
    message = f"harbourmaster cannot read this admission review: {reason}"
    if failure is FailurePolicy.IGNORE:
        return review_answer(
            uid, {"allowed": True, "warnings": [cut(f"{message} (failurePolicy Ignore)", MAX_WARNING)]}
        )
    return denial(uid, f"{message} (failurePolicy Fail)")


def _parse(body: bytes, environment: str) -> _Request | AdmissionAnswer | tuple[str, str]:
    """The review, a 400 answer (no uid), or (uid, why it cannot be read)."""
    if len(body) > MAX_BODY_BYTES:
        uid = _uid_in(body[: 64 * 1024])
        reason = f"the request is larger than {MAX_BODY_BYTES} bytes"
        return (uid, reason) if uid else error(f"{reason}, and no request uid was found")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return error(f"the body is not JSON: {cut(str(exc), 200)}")
    if not isinstance(document, dict):
        return error("the body is not an AdmissionReview (a JSON object)")
    request = document.get("request")
    uid = request.get("uid") if isinstance(request, dict) else None
    if not isinstance(uid, str) or not uid or len(uid) > 128:
        return error("the AdmissionReview has no request.uid")
    if document.get("apiVersion") != API_VERSION or document.get("kind") != "AdmissionReview":
        api = cut(repr(document.get("apiVersion")), 60)
        kind = cut(repr(document.get("kind")), 60)
        return uid, f"apiVersion {api} kind {kind} is not an {API_VERSION} AdmissionReview"
    assert isinstance(request, dict)
    found = request.get("kind")
    group, kind = "", ""
    if isinstance(found, dict):
        group = _text(found.get("group")) or ""
        kind = _text(found.get("kind")) or ""
    return _Request(uid=uid, environment=environment, raw=request, kind=(group, kind))


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


def _settled(decision: Decision) -> bool:
    """Whether a verdict on an image stays as it is until the model changes (or facts outside it do:
    see :mod:`harbourmaster.services.verdict_cache`)."""
    if decision.verdict is None or decision.digest_error:
        return False
    for part in ("vulnerabilities", "signature"):
        judged = decision.verdict.get(part)
        if not isinstance(judged, dict) or judged.get("status") in _UNSETTLED:
            return False
    return True


class AdmissionReviewer:
    """Answers AdmissionReviews for one webhook process: :meth:`quick` from recent verdicts on the
    event loop, :meth:`decide` in full on a worker thread (:meth:`review` does both in turn).

    ``audit``: where validating reviews queue their audit entries (set when the writer starts).
    ``verdict_seconds``: how long a settled verdict is reused (default
    ``HARBOURMASTER_ADMISSION_VERDICT_SECONDS``; 0: never).
    """

    def __init__(
        self,
        hm: Harbourmaster,
        *,
        audit: AuditQueue | None = None,
        verdict_seconds: float | None = None,
    ) -> None:
        self._hm = hm
        self.audit = audit
        ttl = hm.settings.admission_verdict_seconds if verdict_seconds is None else verdict_seconds
        #: Settled verdicts by (environment, tenant, image).
        self.recent: RecentVerdicts[tuple[str, Tenant, str], Decision] = RecentVerdicts(hm, ttl=ttl)

    def review(self, *, environment: str, body: bytes, mutate: bool = False) -> AdmissionAnswer:
        """Answer one AdmissionReview ``body`` for ``environment`` (validating, or ``mutate``: patching).

        Never raises: every failure is an answer (see the module documentation).  The validating review
        queues its audit entry on :attr:`audit` (nothing is recorded for a dry run, or by ``mutate``).
        """
        first = self.quick(environment=environment, body=body, mutate=mutate)
        return first if isinstance(first, AdmissionAnswer) else self.decide(first)

    def quick(self, *, environment: str, body: bytes, mutate: bool = False) -> AdmissionAnswer | Pending:
        """The answer when it needs no read of the store (a body that is no review, a review whose
        answer follows from the model alone, or whose every image has a recent verdict), else what
        :meth:`decide` needs.  Reads nothing and never raises: safe on the request's event loop."""
        parsed = _parse(body, environment)
        if isinstance(parsed, AdmissionAnswer):
            return parsed
        pending = Pending(environment, mutate, parsed)
        snapshot = self.recent.view()
        if snapshot is None:
            return pending
        try:
            if isinstance(parsed, tuple):
                return _unreadable(snapshot, environment, *parsed)
            return self._judge(parsed, snapshot, mutate=mutate, quick=True) or pending
        except Exception:  # a defect on the quick path: the full path answers (and reports it)
            log.exception("admission review %s: the recent-verdict path failed", pending_uid(pending))
            return pending

    def decide(self, pending: Pending) -> AdmissionAnswer:
        """Judge a review in full (reading the model's revision, scans and signatures, and asking
        registries within the admission budget).  Never raises."""
        hm, environment = self._hm, pending.environment
        try:
            with hm.one_view() as (snapshot, _):  # one read of the model's revision for the whole review
                self.recent.saw(snapshot)
                if isinstance(pending.request, tuple):
                    return _unreadable(snapshot, environment, *pending.request)
                answer = self._judge(pending.request, snapshot, mutate=pending.mutate, quick=False)
                assert answer is not None
                return answer
        except Error as exc:
            log.warning("admission review %s could not be decided: %s", pending_uid(pending), exc.message)
            reason = f"harbourmaster could not decide: {exc.message}"
        except Exception as exc:  # a defect: named by type, never quoting what a lower layer said
            log.exception("admission review %s failed", pending_uid(pending))
            reason = f"harbourmaster failed ({type(exc).__name__})"
        try:
            return _unreadable(hm.snapshot(), environment, pending_uid(pending), reason)
        except Exception:  # the model cannot be read either: fail closed
            log.exception("admission review %s: the model cannot be read", pending_uid(pending))
            return denial(pending_uid(pending), f"harbourmaster cannot decide: {reason}")

    def _judge(
        self, request: _Request, snapshot: GovernanceSnapshot, *, mutate: bool, quick: bool
    ) -> AdmissionAnswer | None:
        """The answer to ``request`` on ``snapshot``; with ``quick``, None when an image has no recent
        verdict (nothing is read)."""
        env = snapshot.environments.get(request.environment)
        uid = request.uid
        if env is None:
            return denial(
                uid,
                f"harbourmaster has no environment {request.environment!r}: the webhook URL "
                f"(/validate/ENVIRONMENT) names an environment that is not defined",
            )
        operation = _text(request.raw.get("operation")) or ""
        if operation not in ("CREATE", "UPDATE"):
            return review_answer(uid, {"allowed": True})
        subresource = _text(request.raw.get("subresource")) or ""
        if subresource and not (request.kind == ("", "Pod") and subresource == "ephemeralcontainers"):
            return review_answer(uid, {"allowed": True})
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
            if quick:
                recent = self._recent(snapshot, env.name, namespace, obj)
                if recent is None:
                    return None
                results = recent
            else:
                try:
                    results, _ = check_content(
                        self._hm,
                        principal,
                        environment=env.name,
                        text="",
                        source=f"{context['kind']}/{context['name'] or ''}",
                        namespace=namespace,
                        documents=[obj],
                        budget=self._hm.settings.admission_budget_seconds,
                        record=False,
                    )
                except (BadInput, NotFound) as exc:  # content that cannot be judged: the mode decides
                    problem = exc.message + "".join(f"; {d}" for d in exc.details[:5])
                else:
                    self._keep(snapshot, env.name, namespace, results)
        if mutate:
            return patch_answer(uid, results, problem)
        return validate_answer(env, uid, results, problem, context, principal, self.audit)

    def _recent(
        self, snapshot: GovernanceSnapshot, environment: str, namespace: str | None, obj: dict[str, Any]
    ) -> list[ContentDecision] | None:
        """The decisions on ``obj``'s images from recent verdicts, as :func:`check_content` would
        give them; None when any image has none, or the object needs more than a verdict per image."""
        env = snapshot.environments[environment]
        if namespace is None or env.kind is not EnvironmentKind.KUBERNETES or namespace not in env.namespaces:
            return None
        try:
            found = images_from_kubernetes([obj], ignore_kinds=snapshot.content_ignore_kinds)
        except BadInput:
            return None
        subjects = content_subjects(found.images, found.not_understood)
        if not subjects or len(subjects) > self._hm.settings.max_decision_images:
            return None
        out = []
        for subject in subjects:
            tenant, denied = prejudge(subject, kubernetes=True, namespace=namespace, user=None)
            if denied is not None or not isinstance(subject, WorkloadImage):
                return None  # denied by what it is: the full path gives it its verdict
            decision = self.recent.get((environment, tenant, subject.image))
            if decision is None:
                return None
            out.append(ContentDecision(decision, subject))
        return out

    def _keep(
        self,
        snapshot: GovernanceSnapshot,
        environment: str,
        namespace: str | None,
        results: list[ContentDecision],
    ) -> None:
        """Keep the settled verdicts of a review judged in full."""
        for c in results:
            if not isinstance(c.subject, WorkloadImage) or not _settled(c.decision):
                continue
            tenant, denied = prejudge(c.subject, kubernetes=True, namespace=namespace, user=None)
            if denied is None:
                self.recent.keep((environment, tenant, c.subject.image), snapshot.revision, c.decision)


def pending_uid(pending: Pending) -> str:
    return pending.request[0] if isinstance(pending.request, tuple) else pending.request.uid


def review(
    hm: Harbourmaster,
    *,
    environment: str,
    body: bytes,
    mutate: bool = False,
    audit: AuditQueue | None = None,
) -> AdmissionAnswer:
    """Answer one AdmissionReview ``body`` for ``environment`` in full, keeping no verdict (see
    :meth:`AdmissionReviewer.review`)."""
    return AdmissionReviewer(hm, audit=audit, verdict_seconds=0).review(
        environment=environment, body=body, mutate=mutate
    )
