"""SBOMs of registry images: generate, attach and fetch, each kept in the SBOM store.

Each operation finds the image's registry in the governance model (an image in
no approved registry is refused: harbourmaster talks only to approved
registries), opens that registry's credential from the vault (audited, with the
operation as purpose) and works against the registry with it:

* :func:`generate_image_sbom` streams the image's layers through the catalogers,
  validates the document against its official schema and stores it;
* :func:`attach_image_sbom` pushes the stored SBOM (generating it first if the
  store has none) as an OCI artifact whose ``subject`` is the image manifest; a
  stored SBOM that names another repository (one generated from a local source,
  ``oci-layout:DIR:TAG``) is re-labelled for this image first
  (:func:`~harbourmaster.supply.sbom.identity.relabel_document`);
* :func:`fetch_image_sbom` finds the attached SBOM, checks its subject and schema,
  and stores the document exactly as fetched (origin ``fetched``).

Each operation records the repository and tag it saw the image's digest under
(``sbom_image_names``), which ``vulns affected`` reports.

Each answers with :class:`~harbourmaster.services.supply_results.SbomOutcomePublic`
(the document included unless ``with_document=False``).  Every operation is
audited (``sbom.generate``, ``sbom.attach``, ``sbom.fetch``; failures too) and
needs :attr:`Permission.REGISTRY_PROBE`, because it uses the registry's stored
credential; reading the store needs ``GOVERNANCE_READ``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.model import Registry
from harbourmaster.domain.platform import DEFAULT_PLATFORM
from harbourmaster.domain.reference import ImageReference, parse_reference
from harbourmaster.errors import BadInput
from harbourmaster.registry import ClientOptions, CredentialProvider, RegistryClient, RegistryEndpoint
from harbourmaster.services._sbom_documents import store_document
from harbourmaster.services.audit_failures import failure_audited
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_endpoints import endpoint_for, provider_for, run_sync
from harbourmaster.services.registry_resolve import resolve_image
from harbourmaster.services.registry_scope import approved_registry
from harbourmaster.services.sboms import StoredSbom, get_sbom, list_sboms, store_sbom
from harbourmaster.services.supply_results import SbomOutcomePublic, StoredSbomPublic
from harbourmaster.supply.sbom import (
    Platform,
    SbomFormat,
    ScanLimits,
    ScanProgress,
    default_catalogers,
    scan_image,
    validate_sbom,
)
from harbourmaster.supply.sbom.attach import AttachedSbom, FetchedSbom, fetch_sbom, push_sbom
from harbourmaster.supply.sbom.identity import document_image, for_registry_image, relabel_document
from harbourmaster.supply.sbom.sources._json import platform_of
from harbourmaster.supply.sbom.sources.registry import RegistrySource, resolve_platform_manifest

__all__ = [
    "SbomOutcome",
    "attach_image_sbom",
    "fetch_image_sbom",
    "generate_image_sbom",
    "stored_sbom_document",
    "stored_sboms",
]

T = TypeVar("T")
SBOM_OPTIONS = ClientOptions(connect_timeout=5.0, read_timeout=60.0, max_retries=1)


@dataclass(frozen=True, kw_only=True)
class SbomOutcome:
    """What an SBOM operation did: the image, its digest, the stored SBOM and its document."""

    operation: str  # "generate" | "attach" | "fetch"
    image: str
    registry: str
    digest: str
    format: SbomFormat
    stored: StoredSbom
    document: str
    packages: int | None = None
    warnings: tuple[str, ...] = ()
    generated: bool = False
    attached: AttachedSbom | None = None
    fetched: FetchedSbom | None = None
    #: The name the stored SBOM had before it was re-labelled for this image (attach only).
    relabelled_from: str | None = None


@dataclass(frozen=True)
class _Target:
    reference: ImageReference
    registry: Registry

    @property
    def tag_or_digest(self) -> str:
        return self.reference.digest or self.reference.tag or "latest"


def _target(hm: Harbourmaster, image: str) -> _Target:
    ref = parse_reference(image)
    return _Target(ref, approved_registry(hm, ref))


def _connect(hm: Harbourmaster, target: _Target, *, actor: str,
             purpose: str) -> tuple[RegistryEndpoint, CredentialProvider, bool]:
    endpoint, development_only = endpoint_for(hm, target.registry, actor=actor, purpose=purpose)
    provider = provider_for(hm, target.registry, actor=actor, purpose=purpose)
    return endpoint, provider, development_only


def _audited(hm: Harbourmaster, *, actor: str, action: str, target: _Target, details: dict[str, object],
             work: Callable[[dict[str, object]], T]) -> T:
    """Run ``work``; record ``action`` as ok (with what ``work`` added to ``details``) or failed.  On
    success, the digest ``work`` put in ``details`` is recorded as seen under the image's repository
    and tag, in the audit record's transaction."""
    base = {"registry": target.registry.name, **details}
    with failure_audited(hm, actor=actor, action=action, target=target.reference.normalized, details=base):
        result = work(base)
    ref = target.reference
    with hm.store.transaction() as tx:
        if isinstance(base.get("digest"), str):
            tx.sboms.record_name(image_digest=str(base["digest"]), repository=ref.repository, tag=ref.tag,
                                 seen_at=hm.clock.now())
        tx.audit.append(actor=actor, action=action, target=ref.normalized, details=base)
    return result


def _document_of(hm: Harbourmaster, stored: StoredSbom) -> str:
    with hm.store.read() as tx:
        document = tx.sboms.document(stored.id)
    assert document is not None
    return document


def _named_for(document: str, fmt: SbomFormat, *, target: _Target, digest: str) -> tuple[str, str | None]:
    """``document`` as it is attached to ``target``: unchanged when it names the target's repository,
    else re-labelled for it (and validated again); with the name it had when it was re-labelled."""
    ref = target.reference
    named = document_image(document, fmt)
    if named.repository == ref.repository:
        return document, None
    relabelled = relabel_document(document, fmt, name=ref.normalized, digest=digest,
                                  repository=ref.repository, tag=ref.tag)
    validate_sbom(relabelled, fmt)
    return relabelled, named.name


def _stored_for(hm: Harbourmaster, digest: str, fmt: SbomFormat, platform: str) -> StoredSbom | None:
    return next((s for s in list_sboms(hm, image_digest=digest)
                 if s.format == fmt.value and s.platform == platform), None)


def _generate(hm: Harbourmaster, target: _Target, *, actor: str, fmt: SbomFormat, platform: Platform,
              limits: ScanLimits | None, progress: ScanProgress | None,
              purpose: str) -> tuple[StoredSbom, str, int, tuple[str, ...]]:
    endpoint, provider, development_only = _connect(hm, target, actor=actor, purpose=purpose)
    with RegistrySource(endpoint=endpoint, provider=provider, repository=target.reference.path,
                        reference=target.tag_or_digest, name=target.reference.normalized,
                        platform=platform, development_only=development_only,
                        options=SBOM_OPTIONS, clients=hm.registry_clients) as source:
        sbom = scan_image(source, catalogers=default_catalogers(), limits=limits, progress=progress)
    ref = target.reference
    sbom = replace(sbom, image=for_registry_image(sbom.image, name=ref.normalized, repository=ref.repository,
                                                  tag=ref.tag))
    stored = store_sbom(hm, sbom, fmt=fmt, actor=actor, origin="generated")
    document = _document_of(hm, stored)
    validate_sbom(document, fmt)
    return stored, document, len(sbom.packages), tuple(str(w) for w in sbom.warnings)


def generate_image_sbom(hm: Harbourmaster, principal: Principal, image: str, *,
                        fmt: SbomFormat = SbomFormat.CYCLONEDX_JSON, platform: Platform | None = None,
                        limits: ScanLimits | None = None, progress: ScanProgress | None = None,
                        with_document: bool = True) -> SbomOutcomePublic:
    """Generate the SBOM of registry image ``image`` (layers streamed with the registry's
    credential), validate it against the format's schema and store it; audited as ``sbom.generate``.
    The answer carries the document unless ``with_document`` is false.

    Raises:
        Forbidden: ``principal`` may not use registry credentials.
        ReferenceError: ``image`` is not a valid reference.
        ImageNotInApprovedRegistry: no approved registry covers ``image``.
        SourceError: no image for ``platform`` in the index.
        LayerError: a layer cannot be read, or does not match its digest.
        SbomError: the document fails its schema.
        RegistryError: the registry failed (unreachable, refused, no such tag...).
    """
    require(principal, Permission.REGISTRY_PROBE)
    target = _target(hm, image)
    want = platform or DEFAULT_PLATFORM
    actor = principal.audit_name

    def work(details: dict[str, object]) -> SbomOutcome:
        stored, document, count, warnings = _generate(
            hm, target, actor=actor, fmt=fmt, platform=want, limits=limits, progress=progress,
            purpose="sbom.generate")
        details.update(digest=stored.image_digest, components=count)
        return SbomOutcome(operation="generate", image=target.reference.normalized,
                           registry=target.registry.name, digest=stored.image_digest, format=fmt,
                           stored=stored, document=document, packages=count, warnings=warnings,
                           generated=True)

    outcome = _audited(hm, actor=actor, action="sbom.generate", target=target,
                       details={"format": fmt.value, "platform": str(want)}, work=work)
    return SbomOutcomePublic.of(outcome, with_document=with_document)


async def _platform_image(client: RegistryClient, target: _Target,
                          platform: Platform) -> tuple[Any, str]:
    resolved = await resolve_platform_manifest(client, target.reference.path, target.tag_or_digest,
                                               platform=platform)
    config = resolved.parsed.config
    raw = await client.read_blob(target.reference.path, config.digest, expected_size=config.size,
                                 max_bytes=4 * 1024 * 1024)
    try:
        doc = json.loads(raw)
        plat = str(platform_of(doc)) if isinstance(doc, dict) else str(platform)
    except ValueError:
        plat = str(platform)
    return resolved, plat


def attach_image_sbom(hm: Harbourmaster, principal: Principal, image: str, *,
                      fmt: SbomFormat = SbomFormat.CYCLONEDX_JSON, platform: Platform | None = None,
                      environments: Sequence[str] = (), regenerate: bool = False,
                      limits: ScanLimits | None = None, progress: ScanProgress | None = None,
                      created: dt.datetime | None = None, with_document: bool = True) -> SbomOutcomePublic:
    """Attach the SBOM of ``image`` to it in its registry, as an OCI artifact whose subject is the
    image manifest (referrers API, or the ``sha256-<hex>`` tag where the registry lacks it).

    The stored SBOM for the image's digest, format and platform is attached; without one (or
    with ``regenerate``) it is generated and stored first.  With ``environments``, ``image`` must
    also resolve through a registry granted on each of them (see :func:`resolve_image`).
    Audited as ``sbom.attach``.  The answer carries the document attached unless ``with_document``
    is false.

    Raises:
        Forbidden: ``principal`` may not use registry credentials, or not on an environment.
        ResolveRefused: an environment grants no registry matching ``image``.
        ImageNotInApprovedRegistry, ReferenceError, SourceError, LayerError, SbomError,
        RegistryError: as for :func:`generate_image_sbom`; the registry may also refuse the push.
    """
    require(principal, Permission.REGISTRY_PROBE)
    target = _target(hm, image)
    for environment in environments:
        granted = resolve_image(hm, principal, image, environment=environment)
        if granted.registry != target.registry.name:
            raise BadInput(f"{target.reference.normalized} resolves through registry {granted.registry} on "
                           f"environment {environment}, not through {target.registry.name}")
    want = platform or DEFAULT_PLATFORM
    actor = principal.audit_name

    def work(details: dict[str, object]) -> SbomOutcome:
        endpoint, provider, dev_only = _connect(hm, target, actor=actor, purpose="sbom.attach")

        async def subject() -> Any:
            async with hm.registry_clients.client(endpoint, provider=provider, options=SBOM_OPTIONS,
                                                  development_only=dev_only) as client:
                return await _platform_image(client, target, want)

        resolved, plat = run_sync(subject())
        digest = resolved.manifest.digest
        stored = None if regenerate else _stored_for(hm, digest, fmt, plat)
        generated = stored is None
        packages = None
        warnings: tuple[str, ...] = ()
        relabelled_from = None
        if stored is None:
            stored, document, packages, warnings = _generate(
                hm, target, actor=actor, fmt=fmt, platform=want, limits=limits, progress=progress,
                purpose="sbom.attach")
        else:
            document, relabelled_from = _named_for(_document_of(hm, stored), fmt, target=target,
                                                   digest=digest)

        async def push() -> AttachedSbom:
            async with hm.registry_clients.client(endpoint, provider=provider, options=SBOM_OPTIONS,
                                                  development_only=dev_only) as client:
                return await push_sbom(client, target.reference.path, document=document.encode(),
                                       fmt=fmt, subject=resolved.manifest,
                                       created=created or hm.clock.now())

        attached = run_sync(push())
        details.update(digest=digest, artifact=attached.artifact_digest, via=attached.via,
                       generated=generated, environments=list(environments))
        if relabelled_from is not None:
            details.update(relabelled_from=relabelled_from)
        return SbomOutcome(operation="attach", image=target.reference.normalized,
                           registry=target.registry.name, digest=digest, format=fmt, stored=stored,
                           document=document, packages=packages if packages is not None
                           else stored.component_count, warnings=warnings, generated=generated,
                           attached=attached, relabelled_from=relabelled_from)

    outcome = _audited(hm, actor=actor, action="sbom.attach", target=target,
                       details={"format": fmt.value, "platform": str(want)}, work=work)
    return SbomOutcomePublic.of(outcome, with_document=with_document)


def fetch_image_sbom(hm: Harbourmaster, principal: Principal, image: str, *,
                     fmt: SbomFormat = SbomFormat.CYCLONEDX_JSON, platform: Platform | None = None,
                     with_document: bool = True) -> SbomOutcomePublic:
    """The SBOM attached to ``image`` in its registry, checked (subject, artifact type, digest,
    schema) and stored exactly as fetched (origin ``fetched``); audited as ``sbom.fetch``.  The
    answer carries the document unless ``with_document`` is false.

    Raises:
        Forbidden: ``principal`` may not use registry credentials.
        ImageNotInApprovedRegistry, ReferenceError: as for :func:`generate_image_sbom`.
        NoSbomAttached: no SBOM of ``fmt`` is attached to the image (nothing is stored).
        AttachedSbomRejected: the attached artifact names another subject or its document fails
            the schema (nothing is stored).
        RegistryError: the registry failed, or a blob does not match its digest.
    """
    require(principal, Permission.REGISTRY_PROBE)
    target = _target(hm, image)
    want = platform or DEFAULT_PLATFORM
    actor = principal.audit_name

    def work(details: dict[str, object]) -> SbomOutcome:
        endpoint, provider, dev_only = _connect(hm, target, actor=actor, purpose="sbom.fetch")

        async def fetch() -> tuple[FetchedSbom, str]:
            async with hm.registry_clients.client(endpoint, provider=provider, options=SBOM_OPTIONS,
                                                  development_only=dev_only) as client:
                resolved, plat = await _platform_image(client, target, want)
                return await fetch_sbom(client, target.reference.path, resolved.manifest.digest,
                                        fmt=fmt), plat

        fetched, plat = run_sync(fetch())
        document = fetched.document.decode("utf-8")
        stored = store_document(hm, document, fmt=fmt, image_digest=fetched.subject_digest,
                                image_name=target.reference.normalized, platform=plat, actor=actor,
                                origin="fetched")
        details.update(digest=fetched.subject_digest, artifact=fetched.artifact_digest, via=fetched.via)
        return SbomOutcome(operation="fetch", image=target.reference.normalized,
                           registry=target.registry.name, digest=fetched.subject_digest, format=fmt,
                           stored=stored, document=document, packages=stored.component_count,
                           fetched=fetched)

    outcome = _audited(hm, actor=actor, action="sbom.fetch", target=target,
                       details={"format": fmt.value, "platform": str(want)}, work=work)
    return SbomOutcomePublic.of(outcome, with_document=with_document)


def stored_sboms(hm: Harbourmaster, principal: Principal, *,
                 image_digest: str | None = None) -> list[StoredSbomPublic]:
    """The SBOMs in the store, newest first (optionally for one image digest).

    Raises:
        Forbidden: ``principal`` may not read governance data.
    """
    require(principal, Permission.GOVERNANCE_READ)
    return [StoredSbomPublic.of(s) for s in list_sboms(hm, image_digest=image_digest)]


def stored_sbom_document(hm: Harbourmaster, principal: Principal, *, image_digest: str,
                         fmt: SbomFormat | None = None) -> tuple[StoredSbom, str]:
    """The newest stored SBOM document for ``image_digest`` (and ``fmt``).

    Raises:
        Forbidden: ``principal`` may not read governance data.
        NotFound: none is stored.
    """
    require(principal, Permission.GOVERNANCE_READ)
    return get_sbom(hm, image_digest=image_digest, fmt=fmt)
