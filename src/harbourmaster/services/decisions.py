"""Deployment decisions as a service: authorise, decide, pin to digests, audit.

Each call records one audit entry with every image's verdict, so the log
answers "who tried to deploy what, where, and why was it refused"
(:mod:`harbourmaster.services.decision_audit`).  Allowed
images are pinned to the digest their tag points to now when the registry
can be reached (:mod:`harbourmaster.services.registry_digests`); when it
cannot, the decision stands and the audit entry says why the digest is unknown.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, cast

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.content_subjects import content_subjects, prejudge, tenant_of
from harbourmaster.domain.decision import Decision, GovernanceSnapshot, Tenant, decide
from harbourmaster.domain.model import Environment, EnvironmentKind
from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.domain.spelling import did_you_mean
from harbourmaster.domain.workload_images import NotUnderstood, WorkloadImage, unresolved_placeholder
from harbourmaster.domain.workloads import images_from_kubernetes
from harbourmaster.errors import BadInput, NotFound
from harbourmaster.services.budgets import RequestBudget
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.decision_audit import record_decisions
from harbourmaster.services.environment_access import authorise_environment, named_environment
from harbourmaster.services.results import DecisionPublic, DeploymentDecisions
from harbourmaster.services.verdicts import approved_sources, judge, verdict_decisions

__all__ = ["ContentDecision", "check_content", "check_deployment", "check_images"]


@dataclass(frozen=True, slots=True)
class ContentDecision:
    """The decision on one image of deployment content, or on an object that was not understood.

    For a :class:`NotUnderstood` object there is no image: :meth:`public` gives
    ``image: None``, ``extraction: "not-understood"`` and the denial's reason.
    """

    decision: Decision
    subject: WorkloadImage | NotUnderstood

    @property
    def extraction(self) -> str:
        return "not-understood" if isinstance(self.subject, NotUnderstood) else self.subject.extraction

    def public(self) -> DecisionPublic:
        return DecisionPublic.model_validate(self.decision).model_copy(
            update={
                "image": None if isinstance(self.subject, NotUnderstood) else self.decision.image,
                "extraction": self.extraction,
                "source": self.subject.source,
                "field_path": self.subject.field_path,
            }
        )

    def audit_row(self) -> dict[str, object]:
        row: dict[str, object] = {
            "source": self.subject.source,
            "field_path": self.subject.field_path,
            "extraction": self.extraction,
        }
        if isinstance(self.subject, NotUnderstood):
            row["image"] = None
        return row



_F = TypeVar("_F", bound=Callable[..., Any])


def _in_one_view(fn: _F) -> _F:
    """Take the decision on one view of the model (:meth:`Harbourmaster.one_view`): its revision is
    read once, however many parts of the decision ask for the snapshot."""

    @functools.wraps(fn)
    def decided(hm: Harbourmaster, *args: Any, **kwargs: Any) -> Any:
        with hm.one_view():
            return fn(hm, *args, **kwargs)

    return cast(_F, decided)

def _require_parsable(images: list[str], sources: list[str] | None = None) -> None:
    """A malformed reference is bad input here (the caller named it), not a denial."""
    problems = []
    for i, image in enumerate(images):
        try:
            parse_reference(image)
        except ReferenceError as exc:
            problems.append(f"{sources[i]}: {exc.message}" if sources else exc.message)
    if problems:
        raise BadInput(f"{len(problems)} malformed image reference(s)", details=problems)


def _limit_images(hm: Harbourmaster, count: int) -> None:
    """Raises BadInput when one decision names more images than the configured limit."""
    limit = hm.settings.max_decision_images
    if count > limit:
        raise BadInput(
            f"{count} images in one decision; the limit is {limit} "
            "(HARBOURMASTER_MAX_DECISION_IMAGES); split the request"
        )


@_in_one_view
def check_images(
    hm: Harbourmaster,
    principal: Principal,
    *,
    environment: str,
    images: list[str],
    namespace: str | None = None,
    user: str | None = None,
    resolve: bool = True,
    source_only: bool = False,
    budget: float | None = None,
) -> list[Decision]:
    """Decide each image for ``environment`` and a namespace or user; audited.

    Unless ``source_only``, each decision is the image policy verdict
    (:mod:`harbourmaster.services.verdicts`): allowed only when the source, the vulnerabilities of
    its digest and its signature all allow it, with the parts in ``Decision.verdict``.

    Allowed images given by digest carry it; with ``resolve``, tags are pinned to
    their current digest where the registry answers (never failing the decision
    when it does not).

    An allowed tag that could not be pinned carries the reason in ``digest_error``.  With ``budget``
    (seconds), no registry call holds the decision beyond it (:mod:`~harbourmaster.services.budgets`).

    Raises:
        Forbidden: ``principal`` may not check on this environment.
        NotFound: no such environment, or no such namespace on it (naming the closest).
        BadInput: both a namespace and a user, neither (the environment's kind says
            which it needs), no images, or a malformed reference.
    """
    if not images:
        raise BadInput("no images to check: name at least one image or a file")
    limit = None if budget is None else RequestBudget.start(budget)
    _limit_images(hm, len(images))
    authorise_environment(hm, principal, environment)
    _require_parsable(images)
    tenant = tenant_of(namespace, user)
    snapshot = hm.snapshot()
    _require_tenant(named_environment(snapshot, environment), tenant)
    decisions = decide(snapshot, environment=environment, tenant=tenant, images=images)
    decisions, errors = _pin(
        hm, decisions, actor=principal.audit_name, resolve=resolve, snapshot=snapshot, budget=limit
    )
    decisions = _with_digest_errors(decisions, errors)
    if not source_only:
        decisions = verdict_decisions(
            judge(hm, principal, decisions, environment=environment, resolve=resolve, budget=limit)
        )
    else:
        decisions = approved_sources(hm, decisions, environment=environment)
    record_decisions(
        hm, principal, environment=environment, tenant=tenant, decisions=decisions, digest_errors=errors
    )
    return decisions


def _require_namespace(env: Environment, namespace: str | None) -> None:
    if namespace is not None and env.kind is EnvironmentKind.KUBERNETES and namespace not in env.namespaces:
        raise NotFound(
            f"namespace {namespace} is not a namespace of environment {env.name}"
            f"{did_you_mean(namespace, env.namespaces)}"
        )


def _require_tenant(env: Environment, tenant: Tenant) -> None:
    """The tenant a decision on ``env`` needs: a namespace on Kubernetes, a user elsewhere.

    Raises:
        BadInput: the tenant is missing.
        NotFound: the namespace is not one of the environment's.
    """
    if env.kind is EnvironmentKind.KUBERNETES:
        if tenant.namespace is None:
            namespaces = ", ".join(env.namespaces) or "none defined"
            raise BadInput(
                f"environment {env.name} is Kubernetes: name the namespace to deploy to ({namespaces})"
            )
        _require_namespace(env, tenant.namespace)
    elif tenant.user is None:
        raise BadInput(f"environment {env.name} is {env.kind.value}: name the user who deploys")


def _pin(
    hm: Harbourmaster,
    decisions: list[Decision],
    *,
    actor: str,
    resolve: bool,
    snapshot: GovernanceSnapshot,
    budget: RequestBudget | None = None,
) -> tuple[list[Decision], list[str | None]]:
    """Tags pinned to digests (see :mod:`~harbourmaster.services.registry_digests`) when ``resolve``.

    Without it no registry is asked, and the registry client is not even imported: decisions taken
    on an images given by digest carry it already (:func:`~harbourmaster.domain.decision.decide`).
    """
    if not resolve:
        return decisions, [None] * len(decisions)
    from harbourmaster.services.registry_digests import resolve_decision_digests

    return resolve_decision_digests(
        hm, decisions, actor=actor, ask_registries=True, snapshot=snapshot, budget=budget
    )


def _with_digest_errors(decisions: Sequence[Decision], errors: Sequence[str | None]) -> list[Decision]:
    return [d if e is None else replace(d, digest_error=e) for d, e in zip(decisions, errors, strict=True)]


@_in_one_view
def check_content(
    hm: Harbourmaster,
    principal: Principal,
    *,
    environment: str,
    text: str,
    source: str,
    namespace: str | None = None,
    user: str | None = None,
    resolve: bool = True,
    origin: Path | None = None,
    source_only: bool = False,
    budget: float | None = None,
    documents: Sequence[object] | None = None,
    record: bool = True,
) -> tuple[list[ContentDecision], list[str]]:
    """Decide every image in a Kubernetes manifest or compose file; returns decisions and build-only services.

    Fails closed: besides a decision per image found, every object that was
    not understood (:class:`~harbourmaster.domain.workload_images.NotUnderstood`,
    unless its kind is in the model's ``content.ignore_kinds``) is a denied
    entry without an image, and an image holding a variable placeholder
    (``${TAG}``, ``$(params.image)``, ``{{...}}``) is denied, since what it
    names is only known when deploying.  A string the fallback found under
    an ``image`` key that is not a reference is denied too; a malformed
    reference at a known place is bad input.

    A workload's own ``metadata.namespace`` is its tenant; ``namespace``
    applies to workloads without one, and a workload naming another namespace
    is denied (``kubectl apply -n`` would refuse it too).

    ``origin`` is the file ``text`` was read from, against which a compose
    file's ``include`` and ``extends.file`` are resolved (they are refused
    without it).  With ``resolve``, allowed images are pinned to digests as in
    :func:`check_images`, within ``budget`` seconds as there.

    ``documents`` are Kubernetes objects already parsed (an admission request's object), read in place
    of ``text``.  Without ``record`` no audit entry is written: the caller records the decisions itself
    (the admission webhook, in batches off the request path).

    Raises:
        ContentError / WorkloadError: the content cannot be parsed or followed
            (names the source and place).
        BadInput: an image at a known place (without placeholder) is not a valid reference.
        NotFound: no such environment, or ``namespace`` is not one of its namespaces.
        Forbidden: ``principal`` may not check on this environment.
    """
    limit = None if budget is None else RequestBudget.start(budget)
    authorise_environment(hm, principal, environment)
    snapshot = hm.snapshot()
    _require_namespace(named_environment(snapshot, environment), namespace)
    from harbourmaster.enforce.content import DeploymentContent, load_deployment_content

    if documents is not None:
        found = images_from_kubernetes(documents, ignore_kinds=snapshot.content_ignore_kinds)
        content = DeploymentContent(
            kind="kubernetes", images=found.images, not_understood=found.not_understood
        )
    else:
        content = load_deployment_content(
            text, source=source, origin=origin, ignore_kinds=snapshot.content_ignore_kinds
        )
    _limit_images(hm, len(content.images) + len(content.not_understood))
    # A malformed reference at a known place is bad input; a string the fallback found is denied instead.
    decidable = [
        w for w in content.images if w.extraction == "known" and unresolved_placeholder(w.image) is None
    ]
    _require_parsable(
        [w.image for w in decidable], [f"{source}: {w.source} {w.field_path}" for w in decidable]
    )
    subjects = content_subjects(content.images, content.not_understood)
    env = snapshot.environments[environment]
    if env.kind is EnvironmentKind.KUBERNETES and content.kind == "kubernetes" and namespace is None:
        homeless = sorted({s.source for s in subjects if s.namespace is None})
        if homeless:
            raise BadInput(
                f"environment {environment} is Kubernetes: name the namespace to deploy to "
                f"({', '.join(env.namespaces) or 'none defined'}); these objects do not say theirs",
                details=homeless,
            )
    out: list[ContentDecision] = []
    tenants: list[Tenant] = []
    kubernetes = content.kind == "kubernetes"
    for subject in subjects:
        tenant, decision = prejudge(subject, kubernetes=kubernetes, namespace=namespace, user=user)
        if decision is None:
            assert isinstance(subject, WorkloadImage)
            decision = decide(snapshot, environment=environment, tenant=tenant, images=[subject.image])[0]
        out.append(ContentDecision(decision, subject))
        tenants.append(tenant)
    pinned, errors = _pin(
        hm,
        [c.decision for c in out],
        actor=principal.audit_name,
        resolve=resolve,
        snapshot=snapshot,
        budget=limit,
    )
    pinned = _with_digest_errors(pinned, errors)
    if not source_only:
        pinned = verdict_decisions(
            judge(hm, principal, pinned, environment=environment, resolve=resolve, budget=limit)
        )
    else:
        pinned = approved_sources(hm, pinned, environment=environment)
    out = [replace(c, decision=d) for c, d in zip(out, pinned, strict=True)]
    if not record:
        return out, list(content.build_only)
    by_tenant: dict[Tenant, list[tuple[ContentDecision, str | None]]] = {}
    for tenant, c, error in zip(tenants, out, errors, strict=True):
        by_tenant.setdefault(tenant, []).append((c, error))
    for tenant, rows in by_tenant.items():
        record_decisions(
            hm,
            principal,
            environment=environment,
            tenant=tenant,
            decisions=[c.decision for c, _ in rows],
            digest_errors=[e for _, e in rows],
            extras=[c.audit_row() for c, _ in rows],
        )
    return out, list(content.build_only)


def check_deployment(
    hm: Harbourmaster,
    principal: Principal,
    *,
    environment: str,
    images: list[str] | None = None,
    content: str | None = None,
    source: str = "request",
    namespace: str | None = None,
    user: str | None = None,
    resolve: bool = True,
    origin: Path | None = None,
    source_only: bool = False,
) -> DeploymentDecisions:
    """Decide either ``images`` or every image in deployment ``content`` (the API's and ``check``'s entry).

    Raises:
        BadInput: both images and content, or neither; and as :func:`check_images` / :func:`check_content`.
    """
    if (images is None) == (content is None):
        raise BadInput(
            "give either images or content (a Kubernetes manifest or compose file), not both and not neither"
        )
    if content is not None:
        results, build_only = check_content(
            hm,
            principal,
            environment=environment,
            text=content,
            source=source,
            namespace=namespace,
            user=user,
            resolve=resolve,
            origin=origin,
            source_only=source_only,
        )
        return DeploymentDecisions(decisions=[r.public() for r in results], build_only=build_only)
    assert images is not None
    decisions = check_images(
        hm,
        principal,
        environment=environment,
        images=images,
        namespace=namespace,
        user=user,
        resolve=resolve,
        source_only=source_only,
    )
    return DeploymentDecisions(decisions=[DecisionPublic.model_validate(d) for d in decisions], build_only=[])
