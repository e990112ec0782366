"""Deployment decisions as a service: authorise, decide, pin to digests, audit.

Each call records one audit entry with every image's verdict, so the log
answers "who tried to deploy what, where, and why was it refused".  Allowed
images are pinned to the digest their tag points to now when the registry
can be reached (:mod:`harbourmaster.services.registry_digests`); when it
cannot, the decision stands and the audit entry says why the digest is unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.decision import Decision, Tenant, decide
from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.domain.workloads import WorkloadImage
from harbourmaster.enforce.content import load_deployment_content
from harbourmaster.errors import BadInput
from harbourmaster.services.audit import append_audit
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_access import authorise_environment, resolve_decision_digests

__all__ = ["ContentDecision", "check_content", "check_images"]


@dataclass(frozen=True, slots=True)
class ContentDecision:
    decision: Decision
    workload: WorkloadImage

    def as_dict(self) -> dict[str, object]:
        out = self.decision.as_dict()
        out["source"] = self.workload.source
        out["field_path"] = self.workload.field_path
        return out


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


def _tenant(namespace: str | None, user: str | None) -> Tenant:
    if namespace is not None and user is not None:
        raise BadInput("give either a namespace (Kubernetes) or a user (docker-standalone, swarm), not both")
    return Tenant(namespace=namespace, user=user)


def _record(
    hm: Harbourmaster,
    principal: Principal,
    environment: str,
    tenant: Tenant,
    decisions: Sequence[Decision],
    digest_errors: Sequence[str | None] | None = None,
) -> None:
    denied = [d for d in decisions if not d.allowed]
    with hm.db.transaction() as session:
        append_audit(
            session,
            actor=principal.audit_name,
            action="decision",
            target=f"{environment}/{tenant.describe()}",
            result="denied" if denied else "allowed",
            details={
                "images": [
                    {
                        "image": d.image,
                        "normalized": d.normalized,
                        "registry": d.registry,
                        "allowed": d.allowed,
                        "digest": d.digest,
                        **({"digest_error": error} if error else {}),
                        **({"reasons": list(d.reasons)} if not d.allowed else {}),
                    }
                    for d, error in zip(decisions, digest_errors or [None] * len(decisions), strict=True)
                ],
            },
        )


def check_images(
    hm: Harbourmaster,
    principal: Principal,
    *,
    environment: str,
    images: list[str],
    namespace: str | None = None,
    user: str | None = None,
    resolve: bool = True,
) -> list[Decision]:
    """Decide each image for ``environment`` and a namespace or user; audited.

    Allowed images given by digest carry it; with ``resolve``, tags are pinned to
    their current digest where the registry answers (never failing the decision
    when it does not).

    Raises:
        Forbidden: ``principal`` may not check on this environment.
        BadInput: both a namespace and a user, no images, or a malformed reference.
    """
    if not images:
        raise BadInput("no images to check: name at least one image or a file")
    authorise_environment(hm, principal, environment)
    _require_parsable(images)
    tenant = _tenant(namespace, user)
    snapshot = hm.snapshot()
    decisions = decide(snapshot, environment=environment, tenant=tenant, images=images)
    decisions, errors = resolve_decision_digests(
        hm, decisions, actor=principal.audit_name, ask_registries=resolve, snapshot=snapshot
    )
    _record(hm, principal, environment, tenant, decisions, errors)
    return decisions


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
) -> tuple[list[ContentDecision], list[str]]:
    """Decide every image in a Kubernetes manifest or compose file; returns decisions and build-only services.

    A workload's own ``metadata.namespace`` is its tenant; ``namespace``
    applies to workloads without one, and a workload naming another namespace
    is denied (``kubectl apply -n`` would refuse it too).

    With ``resolve``, allowed images are pinned to digests as in :func:`check_images`.

    Raises:
        ContentError / WorkloadError: the content cannot be parsed (names the source and place).
        Forbidden: ``principal`` may not check on this environment.
    """
    authorise_environment(hm, principal, environment)
    content = load_deployment_content(text, source=source)
    _require_parsable(
        [w.image for w in content.images], [f"{source}: {w.source} {w.field_path}" for w in content.images]
    )
    snapshot = hm.snapshot()
    out: list[ContentDecision] = []
    tenants: list[Tenant] = []
    for workload in content.images:
        if content.kind == "kubernetes" and user is None:
            ns = workload.namespace or namespace
            if namespace is not None and workload.namespace is not None and workload.namespace != namespace:
                why = (
                    f"{workload.source} is in namespace {workload.namespace}, "
                    f"but the deployment targets namespace {namespace}"
                )
                decision = Decision(workload.image, None, None, False, (why, "denied by default"))
                out.append(ContentDecision(decision, workload))
                tenants.append(Tenant(namespace=namespace))
                continue
            tenant = Tenant(namespace=ns)
        else:
            tenant = _tenant(namespace, user)
        decision = decide(snapshot, environment=environment, tenant=tenant, images=[workload.image])[0]
        out.append(ContentDecision(decision, workload))
        tenants.append(tenant)
    pinned, errors = resolve_decision_digests(
        hm, [c.decision for c in out], actor=principal.audit_name, ask_registries=resolve, snapshot=snapshot
    )
    out = [replace(c, decision=d) for c, d in zip(out, pinned, strict=True)]
    by_tenant: dict[Tenant, list[tuple[Decision, str | None]]] = {}
    for tenant, c, error in zip(tenants, out, errors, strict=True):
        by_tenant.setdefault(tenant, []).append((c.decision, error))
    for tenant, rows in by_tenant.items():
        _record(hm, principal, environment, tenant, [d for d, _ in rows], [e for _, e in rows])
    return out, list(content.build_only)
