"""What a background job can be: its kinds, each a handler with the permission it needs.

A handler is ``handler(hm, job, progress) -> result``: it does the work of ``job`` (a
:class:`~harbourmaster.store.values.StoredJob`, whose ``payload`` says what to do), reports how far it
got through ``progress(fraction, message)`` and returns a JSON-able result; it raises a
:class:`~harbourmaster.errors.Error` to fail the attempt (the job is tried again while attempts
remain).  A job acts for whoever submitted it (:func:`job_principal`), with their role at the time it
runs: a user removed or demoted meanwhile cannot have work done in their name.

The built-in kinds are :data:`BUILTIN_KINDS`; :mod:`harbourmaster.services.jobs` keeps the registry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.mirror_schedules import schedule_of_actor
from harbourmaster.domain.model import Role
from harbourmaster.domain.reference import parse_reference
from harbourmaster.domain.state import GovernanceState
from harbourmaster.errors import BadInput, Forbidden
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_events import REGISTRY_PUSH_KIND
from harbourmaster.services.registry_notifications import registry_of_actor
from harbourmaster.services.registry_scope import approved_registry
from harbourmaster.store.values import StoredJob
from harbourmaster.supply.sbom import LayerDescriptor

__all__ = [
    "BUILTIN_KINDS", "REGISTRY_PUSH", "SBOM_GENERATE", "JobHandler", "JobKind", "JobProgress", "job_principal"
]

#: Actors that are the data directory's operator rather than a user of the model (``local:<user>``).
LOCAL_ACTOR_PREFIX = "local:"


class JobProgress(Protocol):
    """Where a handler reports progress: a fraction done (0..1, None: unknown) and/or a message."""

    def __call__(self, fraction: float | None = None, message: str | None = None) -> None: ...


JobHandler = Callable[[Harbourmaster, StoredJob, JobProgress], object]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobKind:
    """A kind of job: its name, its handler, the permission its submitter needs, and an optional
    check of the payload run when the job is submitted (so bad input is refused at once)."""

    name: str
    handler: JobHandler
    permission: Permission
    check: Callable[[Harbourmaster, Mapping[str, object]], None] | None = None
    summary: str = ""


def job_principal(hm: Harbourmaster, job: StoredJob) -> Principal:
    """Who ``job`` acts for: its creator with their role now (the local operator is an administrator).

    Raises:
        Forbidden: the creator is no longer a user of the model (or the registry, or the scheduled
            mirror as it was when it queued the job, is no longer defined).
    """
    with hm.store.read() as tx:
        state = tx.governance.load()
    user = next((u for u in state.users if u.name == job.created_by), None)
    if user is not None:
        return Principal(user.name, user.role)
    if job.created_by.startswith(LOCAL_ACTOR_PREFIX):
        return Principal(job.created_by, Role.ADMINISTRATOR)
    # A registry's push job (registry:<name>, never a user's name): a registry operator's role, but the
    # handler reads only the registry named, and only while it is defined.
    registry = registry_of_actor(job.created_by)
    if job.kind == REGISTRY_PUSH_KIND and registry is not None and hm.snapshot().registries.get(registry):
        return Principal(job.created_by, Role.PLATFORM_ENGINEER)
    # A scheduled mirror's job (scheduler:<name>): a platform engineer's role (what mirroring needs),
    # but only for the mirror the schedule defines now: removed or changed since, it runs for nobody.
    if job.kind == MIRROR.name and _scheduled_now(state, job):
        return Principal(job.created_by, Role.PLATFORM_ENGINEER)
    schedule = schedule_of_actor(job.created_by)
    if schedule is not None:
        raise Forbidden(f"job {job.id} was queued by the scheduled mirror {schedule}, which is no longer "
                        "defined as it was then: it runs in nobody's name")
    raise Forbidden(f"job {job.id} was submitted by {job.created_by}, who is no longer a user: "
                    "it cannot run in their name")


def _scheduled_now(state: GovernanceState, job: StoredJob) -> bool:
    """Whether ``job`` was queued by a scheduled mirror that ``state`` still defines as in its payload."""
    name = schedule_of_actor(job.created_by)
    if name is None:
        return False
    mirror = next((m for m in state.mirrors if m.name == name), None)
    return mirror is not None and job.payload.get("schedule") == name and (
        job.payload.get("image_set"), job.payload.get("to"), job.payload.get("tier")
    ) == (mirror.image_set, mirror.to, mirror.tier.value if mirror.tier is not None else None)


# -- sbom.generate ------------------------------------------------------------------------------


def _image_of(payload: Mapping[str, object]) -> str:
    image = payload.get("image")
    if not isinstance(image, str) or not image:
        raise BadInput("an sbom.generate job needs a payload {\"image\": \"<image reference>\"}")
    return image


def _check_sbom_generate(hm: Harbourmaster, payload: Mapping[str, object]) -> None:
    approved_registry(hm, parse_reference(_image_of(payload)))


class _LayerProgress:
    """The SBOM scan's per-layer progress as one message (the number of layers is not known ahead)."""

    def __init__(self, progress: JobProgress) -> None:
        self._progress = progress
        self._lock = threading.Lock()
        self._read = 0
        self._layers = 0

    def start_layer(self, index: int, layer: LayerDescriptor) -> None:
        with self._lock:
            self._layers = max(self._layers, index + 1)
        self._progress(message=f"reading layer {index + 1} ({layer.digest})")

    def advance(self, index: int, compressed_bytes: int) -> None:
        with self._lock:
            self._read += compressed_bytes
            read = self._read
        self._progress(message=f"layer {index + 1}: {read / 2**20:.1f} MiB read")

    def finish_layer(self, index: int) -> None:
        self._progress(message=f"layer {index + 1} done")


def _generate_sbom(hm: Harbourmaster, job: StoredJob, progress: JobProgress) -> object:
    from harbourmaster.services.sbom_ops import generate_image_sbom  # the registry client, at first use

    principal = job_principal(hm, job)
    progress(0.0, "generating the SBOM")
    outcome = generate_image_sbom(hm, principal, _image_of(job.payload), progress=_LayerProgress(progress),
                                  with_document=False)
    return outcome.model_dump(mode="json")


SBOM_GENERATE = JobKind(
    name="sbom.generate",
    handler=_generate_sbom,
    permission=Permission.REGISTRY_PROBE,
    check=_check_sbom_generate,
    summary="Generate a registry image's SBOM and keep it in the store (payload: {\"image\": ...}).",
)


# -- registry.push ------------------------------------------------------------------------------


def _registry_push(hm: Harbourmaster, job: StoredJob, progress: JobProgress) -> object:
    from harbourmaster.services.push_scans import run_push_scan  # the registry client, at first use

    progress(0.0, "scanning the pushed image")
    return run_push_scan(hm, job_principal(hm, job), job.payload)


def _check_registry_push(hm: Harbourmaster, payload: Mapping[str, object]) -> None:
    from harbourmaster.services.push_scans import check_push_payload

    check_push_payload(hm, payload)


REGISTRY_PUSH = JobKind(
    name=REGISTRY_PUSH_KIND,
    handler=_registry_push,
    permission=Permission.REGISTRY_PROBE,
    check=_check_registry_push,
    summary="Scan an image a registry reported pushed: SBOM, attachment, scan, signatures "
    "(payload: {\"registry\", \"repository\", \"digest\"}).",
)

# -- sbom.attach, image.scan, image.verify ------------------------------------------------------


def _image_job(run: str) -> JobHandler:
    """A handler calling ``run`` of :mod:`harbourmaster.services.image_jobs` (loaded at first use) in the
    submitter's name, with the SBOM scan's per-layer progress."""

    def handle(hm: Harbourmaster, job: StoredJob, progress: JobProgress) -> object:
        from harbourmaster.services import image_jobs

        progress(0.0, "starting")
        return getattr(image_jobs, run)(hm, job_principal(hm, job), job.payload, _LayerProgress(progress))

    return handle


def _check_image(kind: str) -> Callable[[Harbourmaster, Mapping[str, object]], None]:
    def check(hm: Harbourmaster, payload: Mapping[str, object]) -> None:
        from harbourmaster.services.image_jobs import check_image_payload, check_verify_payload

        if kind == "image.verify":
            check_verify_payload(hm, payload)
        else:
            check_image_payload(hm, payload, kind=kind)

    return check


SBOM_ATTACH = JobKind(
    name="sbom.attach",
    handler=_image_job("run_attach"),
    permission=Permission.REGISTRY_PROBE,
    check=_check_image("sbom.attach"),
    summary="Attach a registry image's SBOM to it as an OCI artifact (payload: {\"image\": ...}).",
)
IMAGE_SCAN = JobKind(
    name="image.scan",
    handler=_image_job("run_scan"),
    permission=Permission.REGISTRY_PROBE,
    check=_check_image("image.scan"),
    summary="Scan a registry image and keep the scan for its digest "
    "(payload: {\"image\", \"environment\" or \"tier\"}).",
)
IMAGE_VERIFY = JobKind(
    name="image.verify",
    handler=_image_job("run_verify"),
    # Registry operators: a job cannot check a team member's access to the environment when it is
    # queued (team members verify in the request, ``verify --env``, which does).
    permission=Permission.REGISTRY_PROBE,
    check=_check_image("image.verify"),
    summary="Verify a registry image's signatures against an environment's signers "
    "(payload: {\"image\", \"environment\"}).",
)


# -- deployment.apply ---------------------------------------------------------------------------


def _deploy(hm: Harbourmaster, job: StoredJob, progress: JobProgress) -> object:
    from harbourmaster.services.deployments import run_deployment_job

    progress(0.0, "starting")
    return run_deployment_job(hm, job_principal(hm, job), job.payload, progress)


def _check_deploy(hm: Harbourmaster, payload: Mapping[str, object]) -> None:
    from harbourmaster.services.deployments import check_deployment_payload

    check_deployment_payload(hm, payload)


DEPLOYMENT_APPLY = JobKind(
    name="deployment.apply",
    handler=_deploy,
    # Who may deploy where is checked again when the job runs, in its submitter's name.
    permission=Permission.DEPLOY,
    check=_check_deploy,
    summary="Carry out a deployment accepted by POST /api/v1/environments/{env}/deployments "
    "(payload: {\"deployment\": id}).",
)

# -- mirror -------------------------------------------------------------------------------------


def _mirror(hm: Harbourmaster, job: StoredJob, progress: JobProgress) -> object:
    from harbourmaster.services.mirror_jobs import run_mirror  # the registry client, at first use

    progress(0.0, "starting")
    return run_mirror(hm, job_principal(hm, job), job.payload, progress)


def _check_mirror(hm: Harbourmaster, payload: Mapping[str, object]) -> None:
    from harbourmaster.services.mirror_jobs import check_mirror_payload

    check_mirror_payload(hm, payload)


MIRROR = JobKind(
    name="mirror",
    handler=_mirror,
    # A set with a signer also needs image.sign: submit_mirror checks it, and the run does again
    # (in the submitter's name) before anything is copied.
    permission=Permission.REGISTRY_PROBE,
    check=_check_mirror,
    summary="Mirror an ImageSet into a registry: scan, copy with referrers, sign, tag "
    "(payload: {\"image_set\", \"source\", \"to\", \"tier\"}).",
)

BUILTIN_KINDS: tuple[JobKind, ...] = (
    SBOM_GENERATE, REGISTRY_PUSH, SBOM_ATTACH, IMAGE_SCAN, IMAGE_VERIFY, DEPLOYMENT_APPLY, MIRROR
)  # fmt: skip
