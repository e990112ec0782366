"""What deployment content's images are decided as, before any registry is asked.

Each image found in content (and each object not understood) is a *subject*.  Some subjects are
denied by what they are, whatever the model says: an object harbourmaster does not understand, an
image holding a placeholder filled in only when deploying, a string under an ``image`` key that is
not a reference, a workload naming another namespace than the deployment's.  :func:`prejudge` gives
those their denial, and for every other subject the tenant its image is decided for.  The decision
services and the admission webhook's recent-verdict path share it, so both see the same subjects.
"""

from __future__ import annotations

from collections.abc import Iterable

from harbourmaster.domain.decision import Decision, Tenant
from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.domain.workload_images import NotUnderstood, WorkloadImage, unresolved_placeholder
from harbourmaster.errors import BadInput

__all__ = ["Subject", "content_subjects", "prejudge", "tenant_of"]

Subject = WorkloadImage | NotUnderstood


def tenant_of(namespace: str | None, user: str | None) -> Tenant:
    """The tenant named by a namespace (Kubernetes) or a user (docker-standalone, swarm).

    Raises:
        BadInput: both are given.
    """
    if namespace is not None and user is not None:
        raise BadInput("give either a namespace (Kubernetes) or a user (docker-standalone, swarm), not both")
    return Tenant(namespace=namespace, user=user)


def content_subjects(
    images: Iterable[WorkloadImage], not_understood: Iterable[NotUnderstood]
) -> list[Subject]:
    """The subjects of content in document order (images, then objects not understood, per document)."""
    return sorted([*images, *not_understood], key=lambda s: s.document)


def _unreadable(workload: WorkloadImage) -> str | None:
    """Why an image the fallback found is not a reference (None when it is one)."""
    if workload.extraction != "fallback":
        return None
    try:
        parse_reference(workload.image)
    except ReferenceError as exc:
        return (
            f"{workload.source}: {workload.field_path} {workload.image!r} is not an image reference "
            f"({exc.message}), so it cannot be decided"
        )
    return None


def _placeholder_reason(workload: WorkloadImage, placeholder: str) -> str:
    return (
        f"{workload.source}: {workload.field_path} {workload.image!r} contains {placeholder}, which is "
        "filled in only when deploying, so the image cannot be decided; write the reference out in full"
    )


def prejudge(
    subject: Subject, *, kubernetes: bool, namespace: str | None, user: str | None
) -> tuple[Tenant, Decision | None]:
    """The tenant ``subject``'s image is decided for, and its denial when it is denied by what it is
    (None: its image is decided by the model, :func:`~harbourmaster.domain.decision.decide`).

    ``kubernetes``: the content is Kubernetes objects and no ``user`` is given, so a workload's own
    namespace is its tenant; ``namespace`` applies to workloads without one, and a workload naming
    another namespace is denied (``kubectl apply -n`` would refuse it too).

    Raises:
        BadInput: both ``namespace`` and ``user`` are given.
    """
    mismatch: tuple[str, ...] = ()
    if kubernetes and user is None:
        tenant = Tenant(namespace=subject.namespace or namespace)
        if namespace is not None and subject.namespace is not None and subject.namespace != namespace:
            mismatch = (
                f"{subject.source} is in namespace {subject.namespace}, "
                f"but the deployment targets namespace {namespace}",
            )
            tenant = Tenant(namespace=namespace)
    else:
        tenant = tenant_of(namespace, user)
    if isinstance(subject, NotUnderstood):
        return tenant, Decision("", None, None, False, (subject.reason, *mismatch))
    if (placeholder := unresolved_placeholder(subject.image)) is not None:
        return tenant, Decision(
            subject.image, None, None, False, (_placeholder_reason(subject, placeholder), *mismatch)
        )
    if (unreadable := _unreadable(subject)) is not None:
        return tenant, Decision(subject.image, None, None, False, (unreadable, *mismatch))
    if mismatch:
        return tenant, Decision(subject.image, None, None, False, (*mismatch, "denied by default"))
    return tenant, None
