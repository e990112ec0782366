"""A registry's event notifications: pulls audited, pushes of images scanned in the background.

The CNCF distribution registry (and Harbor, Quay, GitLab, which speak its format) POSTs an envelope
``{"events": [...]}`` (media type ``application/vnd.docker.distribution.events.v1+json``) for every
push and pull.  The request was authenticated with the registry's notification secret
(:mod:`harbourmaster.services.registry_notifications`); :func:`receive_registry_events` then, in one
transaction:

- audits each manifest **pull** as ``registry.pull`` (digest, repository, tag, the actor the registry
  reports and the address the request came from), so the log links user, digest and pull;
- for each manifest **push** of an image, queues a ``registry.push`` job (SBOM, attachment, scan,
  signature verification; :mod:`harbourmaster.services.push_scans`) and audits the push with the
  pusher's identity and the job's id.  A push of the same image that still has a job queued or running
  adds none (the registry retries deliveries).

Pushes that are no image are ignored, so that what harbourmaster (or cosign) pushes beside an image
does not start another scan: signature, attestation, SBOM and referrers-index tags
(``sha256-<hex>[.sig|.att|.sbom]``) are skipped here, and the job skips a manifest with a
``subject`` or an artifact type, or one that is not an image, before reading any layer.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.reference import parse_reference
from harbourmaster.errors import BadInput, Error
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_notifications import require_registry_principal
from harbourmaster.services.registry_scope import approved_registry, named_registry, within_scope
from harbourmaster.store.interface import Repositories
from harbourmaster.store.values import JobState

__all__ = [
    "EVENTS_MEDIA_TYPE",
    "MAX_EVENTS",
    "REGISTRY_PUSH_KIND",
    "RegistryEventEnvelope",
    "RegistryEventsOutcome",
    "receive_registry_events",
]

#: The media type of the distribution registry's notification envelope.
EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
#: The most events one envelope may carry (the distribution registry sends one per request).
MAX_EVENTS = 1000
#: The job kind a push starts (defined in services/job_kinds.py).
REGISTRY_PUSH_KIND = "registry.push"
#: How many queued and running jobs the duplicate check looks at.
_ACTIVE_WINDOW = 500

_MANIFEST_TYPES = frozenset({
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
})
#: cosign's signature, attestation and SBOM tags, and the OCI referrers fallback tag.
_ARTIFACT_TAG = re.compile(r"sha256-[0-9a-f]{64}(\.(sig|att|sbom))?")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")


class _Tolerant(BaseModel):
    # Registries add fields over time (Harbor, newer distribution releases): ignore what is unknown.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class EventTarget(_Tolerant):
    media_type: str | None = Field(default=None, alias="mediaType", max_length=255)
    digest: str | None = Field(default=None, max_length=200)
    size: int | None = Field(default=None, ge=0)
    length: int | None = Field(default=None, ge=0)
    repository: str | None = Field(default=None, max_length=255)
    url: str | None = Field(default=None, max_length=4096)
    tag: str | None = Field(default=None, max_length=128)


class EventRequest(_Tolerant):
    id: str | None = Field(default=None, max_length=128)
    addr: str | None = Field(default=None, max_length=255)
    host: str | None = Field(default=None, max_length=255)
    method: str | None = Field(default=None, max_length=16)
    useragent: str | None = Field(default=None, max_length=512)


class EventActor(_Tolerant):
    name: str | None = Field(default=None, max_length=255)


class EventSource(_Tolerant):
    addr: str | None = Field(default=None, max_length=255)
    instance_id: str | None = Field(default=None, alias="instanceID", max_length=128)


class RegistryEvent(_Tolerant):
    id: str | None = Field(default=None, max_length=128)
    timestamp: dt.datetime | None = None
    action: str = Field(max_length=32)
    target: EventTarget
    request: EventRequest = Field(default_factory=EventRequest)
    actor: EventActor = Field(default_factory=EventActor)
    source: EventSource = Field(default_factory=EventSource)


class RegistryEventEnvelope(_Tolerant):
    """The distribution registry's notification envelope."""

    events: list[RegistryEvent] = Field(max_length=MAX_EVENTS)


class IgnoredEvent(BaseModel):
    index: int
    action: str
    reason: str


class RegistryEventsOutcome(BaseModel):
    """What became of an envelope's events."""

    registry: str
    received: int
    pulls_audited: int
    pushes_queued: list[int]
    """The ids of the ``registry.push`` jobs queued."""
    duplicates: int
    """Pushes of an image that already had a push job queued or running."""
    ignored: list[IgnoredEvent]


def _is_manifest(media_type: str | None) -> bool:
    return media_type in _MANIFEST_TYPES or (
        media_type is not None and ("manifest" in media_type or "index" in media_type))


def _image(host: str, index: int, event: RegistryEvent) -> tuple[str, str]:
    """``host/repository@digest`` of the event's target, and its repository.

    Raises:
        BadInput: the target has no (well-formed) repository or digest, naming the event.
    """
    target = event.target
    where = f"events[{index}].target"
    if not target.repository:
        raise BadInput(f"{where}.repository is missing from a {event.action} event")
    if not target.digest or not _DIGEST.fullmatch(target.digest):
        raise BadInput(f"{where}.digest is missing or not a sha256/sha512 digest")
    image = f"{host}/{target.repository}@{target.digest}"
    try:
        parse_reference(image)
    except Error as exc:
        raise BadInput(f"{where}.repository is not a repository name: {exc.message}") from exc
    return image, target.repository


def _who(event: RegistryEvent) -> dict[str, Any]:
    return {
        "actor": event.actor.name or None,
        "addr": event.request.addr,
        "useragent": event.request.useragent,
        "event": event.id,
        "instance": event.source.instance_id,
        "at": event.timestamp.isoformat() if event.timestamp else None,
    }


def _active_pushes(tx: Repositories) -> set[tuple[str, str, str]]:
    found = set()
    for state in (JobState.QUEUED, JobState.RUNNING):
        for job in tx.jobs.recent(limit=_ACTIVE_WINDOW, state=state):
            if job.kind == REGISTRY_PUSH_KIND:
                p = job.payload
                found.add((str(p.get("registry")), str(p.get("repository")), str(p.get("digest"))))
    return found


def receive_registry_events(hm: Harbourmaster, principal: Principal, registry: str,
                            envelope: RegistryEventEnvelope) -> RegistryEventsOutcome:
    """Audit the envelope's pulls and queue a scan job for each image pushed (see the module); all in
    one transaction, so a delivery is recorded whole or not at all (and then retried by the registry).

    Raises:
        Forbidden: ``principal`` is not registry ``registry`` reporting its own events.
        NotFound: no such registry.
        BadInput: a push or pull event has no repository or digest (naming the event).
    """
    require_registry_principal(principal, registry)
    reg = named_registry(hm, registry)
    host = reg.location.host
    actor = principal.audit_name
    ignored: list[IgnoredEvent] = []
    pulls = 0
    queued: list[int] = []
    duplicates = 0
    planned: list[tuple[int, RegistryEvent, str, str, str | None]] = []
    for index, event in enumerate(envelope.events):
        def ignore(reason: str, index: int = index, event: RegistryEvent = event) -> None:
            ignored.append(IgnoredEvent(index=index, action=event.action, reason=reason))

        if event.action not in ("push", "pull"):
            ignore("only pushes and pulls are acted on")
            continue
        if not _is_manifest(event.target.media_type):
            ignore(f"not a manifest ({event.target.media_type or 'no media type'})")
            continue
        image, repository = _image(host, index, event)
        if not within_scope(reg, repository):
            ignore(f"repository {repository} is outside the scope of registry {reg.name}")
            continue
        if event.action == "push" and event.target.tag and _ARTIFACT_TAG.fullmatch(event.target.tag):
            ignore(f"tag {event.target.tag} is a signature, attestation, SBOM or referrers tag")
            continue
        refusal = None
        if event.action == "push":
            # The scan reads the image from this registry only: it must be the registry that covers it
            # (a registry's secret must not make harbourmaster read another registry).
            try:
                covering = approved_registry(hm, parse_reference(image)).name
            except Error:
                covering = None
            if covering != reg.name:
                refusal = f"the image is in registry {covering or '(none approved)'}, not in {reg.name}"
        planned.append((index, event, image, repository, refusal))

    with hm.store.transaction() as tx:
        pushes = [p for p in planned if p[1].action == "push"]
        active: set[tuple[str, str, str]] = set()
        if pushes:
            # Two deliveries of one push at once must not both queue a job (PostgreSQL: both would
            # read no active job); the model's write lock serialises them for this short transaction.
            tx.governance.lock()
            active = _active_pushes(tx)
        for index, event, image, repository, refusal in planned:
            target = event.target
            details: dict[str, Any] = {"registry": reg.name, "repository": repository, "tag": target.tag,
                                       "digest": target.digest, "media_type": target.media_type,
                                       **_who(event)}
            if event.action == "pull":
                tx.audit.append(actor=actor, action="registry.pull", target=image, details=details)
                pulls += 1
                continue
            if refusal is not None:
                tx.audit.append(actor=actor, action="registry.push", target=image, result="refused",
                                details={**details, "reason": refusal})
                ignored.append(IgnoredEvent(index=index, action="push", reason=refusal))
                continue
            key = (reg.name, repository, str(target.digest))
            if key in active:
                duplicates += 1
                tx.audit.append(actor=actor, action="registry.push", target=image,
                                details={**details, "job": None, "duplicate": True})
                continue
            job = tx.jobs.enqueue(kind=REGISTRY_PUSH_KIND, created_by=actor, now=hm.clock.now(),
                                  payload={"registry": reg.name, "repository": repository,
                                           "digest": target.digest, "tag": target.tag, "image": image})
            active.add(key)
            queued.append(job.id)
            tx.audit.append(actor=actor, action="job.enqueued", target=f"job/{job.id}",
                            details={"id": job.id, "kind": REGISTRY_PUSH_KIND})
            tx.audit.append(actor=actor, action="registry.push", target=image,
                            details={**details, "job": job.id})
    return RegistryEventsOutcome(registry=reg.name, received=len(envelope.events), pulls_audited=pulls,
                                 pushes_queued=queued, duplicates=duplicates, ignored=ignored)
