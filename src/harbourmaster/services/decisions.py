"""Deployment decisions as a service: authorise, decide, audit.

Each call records one audit entry with every image's verdict, so the log
answers "who tried to deploy what, where, and why was it refused".
"""

from __future__ import annotations

from dataclasses import dataclass

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.decision import Decision, Tenant, decide
from harbourmaster.domain.model import Role
from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.domain.workloads import WorkloadImage
from harbourmaster.enforce.content import load_deployment_content
from harbourmaster.errors import BadInput, Forbidden
from harbourmaster.services.audit import append_audit
from harbourmaster.services.core import Harbourmaster

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


def _authorise(hm: Harbourmaster, principal: Principal, environment: str) -> None:
    require(principal, Permission.DECISION_CHECK)
    if principal.role is Role.TEAM_MEMBER:
        users = hm.snapshot().environment_users.get(environment, frozenset())
        if principal.name not in users:
            raise Forbidden(f"{principal.name} has no access to environment {environment}")


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
    hm: Harbourmaster, principal: Principal, environment: str, tenant: Tenant, decisions: list[Decision]
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
                        **({"reasons": list(d.reasons)} if not d.allowed else {}),
                    }
                    for d in decisions
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
) -> list[Decision]:
    """Decide each image for ``environment`` and a namespace or user; audited.

    Raises:
        Forbidden: ``principal`` may not check on this environment.
        BadInput: both a namespace and a user, no images, or a malformed reference.
    """
    if not images:
        raise BadInput("no images to check: name at least one image or a file")
    _authorise(hm, principal, environment)
    _require_parsable(images)
    tenant = _tenant(namespace, user)
    decisions = decide(hm.snapshot(), environment=environment, tenant=tenant, images=images)
    _record(hm, principal, environment, tenant, decisions)
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
) -> tuple[list[ContentDecision], list[str]]:
    """Decide every image in a Kubernetes manifest or compose file; returns decisions and build-only services.

    A workload's own ``metadata.namespace`` is its tenant; ``namespace``
    applies to workloads without one, and a workload naming another namespace
    is denied (``kubectl apply -n`` would refuse it too).

    Raises:
        ContentError / WorkloadError: the content cannot be parsed (names the source and place).
        Forbidden: ``principal`` may not check on this environment.
    """
    _authorise(hm, principal, environment)
    content = load_deployment_content(text, source=source)
    _require_parsable(
        [w.image for w in content.images], [f"{source}: {w.source} {w.field_path}" for w in content.images]
    )
    snapshot = hm.snapshot()
    out: list[ContentDecision] = []
    by_tenant: dict[Tenant, list[Decision]] = {}
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
                by_tenant.setdefault(Tenant(namespace=namespace), []).append(decision)
                continue
            tenant = Tenant(namespace=ns)
        else:
            tenant = _tenant(namespace, user)
        decision = decide(snapshot, environment=environment, tenant=tenant, images=[workload.image])[0]
        out.append(ContentDecision(decision, workload))
        by_tenant.setdefault(tenant, []).append(decision)
    for tenant, decisions in by_tenant.items():
        _record(hm, principal, environment, tenant, decisions)
    return out, list(content.build_only)
