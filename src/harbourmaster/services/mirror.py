"""``harbourmaster mirror``: copy an ImageSet's images into an approved registry, vetted on the way.

For each image the set resolves to (:func:`~harbourmaster.services.imagesets.resolve_image_set`):

* already at the target by digest (``HEAD``): **skipped**, not scanned again; its tags and any
  referrers or cosign signatures it lacks there are still brought up to date;
* otherwise its SBOM is generated from the source and scanned against the tier's thresholds (each
  platform of a multi-platform index), before anything of it is pushed; an image the tier blocks is
  **refused** with its findings and nothing of it reaches the target;
* otherwise it is **copied** (:mod:`~harbourmaster.services.mirror_copy`: blobs, platform manifests,
  the index or manifest, referrers and cosign tags), signed at the target with the ImageSet's
  ``signer`` (a vault signing key) when one is named, and tagged last.

OCI artifacts (a Helm chart: a config that is no image config) are carried like images, without an
SBOM or a scan (the result says so).  The tier is ``--tier``, or by default the strictest tier of the
environments the target registry is granted to; a target granted nowhere needs ``--tier``.

Every image is audited (``mirror.image``: source, digest, target, outcome, findings, signature) and
so is the run (``mirror.run``, also when it fails).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.model import Registry, Tier
from harbourmaster.errors import BadInput
from harbourmaster.registry import ClientOptions, CredentialProvider, NotFoundInRegistry, RegistryEndpoint
from harbourmaster.registry.client import FetchedManifest
from harbourmaster.registry.media import ImageIndex
from harbourmaster.services.audit_failures import failure_audited
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.imagesets import ResolvedImage, read_image_set, resolve_image_set
from harbourmaster.services.mirror_copy import ImageCopier
from harbourmaster.services.registry_endpoints import endpoint_for, provider_for, run_sync
from harbourmaster.services.registry_scope import named_registry, within_scope

__all__ = [
    "MirrorProgress",
    "MirrorResultPublic",
    "MirroredImagePublic",
    "default_tier",
    "mirror",
    "target_repository",
]

MIRROR_OPTIONS = ClientOptions(connect_timeout=10.0, read_timeout=300.0)
_ORDER = {Tier.DEVELOPMENT: 0, Tier.STAGING: 1, Tier.PRODUCTION: 2}

#: ``progress(fraction done or None, message or None)``, as a job's progress is reported.
MirrorProgress = Callable[..., None]


class MirroredImagePublic(BaseModel):
    """What happened to one image: copied, skipped (already at the target) or refused (by the tier)."""

    path: str
    source: str
    digest: str
    kind: str
    tags: list[str]
    target: str
    outcome: Literal["copied", "skipped", "refused"]
    scanned: bool
    scan_note: str | None = None
    findings: int = 0
    blocking: list[str] = []
    verdict_reason: str | None = None
    blobs: int = 0
    bytes: int = 0
    referrers: list[str] = []
    cosign_tags: list[str] = []
    tags_set: list[str] = []
    signature: str | None = None
    signature_digest: str | None = None


class MirrorResultPublic(BaseModel):
    """A mirror run: the target, the tier judged by, the signer, and each image's outcome."""

    image_set: str
    target_registry: str
    tier: str
    signer: str | None
    images: list[MirroredImagePublic]
    copied: int
    skipped: int
    refused: int


def default_tier(hm: Harbourmaster, registry: Registry) -> Tier:
    """The strictest tier among the environments ``registry`` is granted to.

    Raises:
        BadInput: it is granted to none (give the tier).
    """
    snapshot = hm.snapshot()
    tiers = {
        snapshot.environments[env].tier
        for grants in (snapshot.namespace_grants, snapshot.user_grants)
        for (env, _), registries in grants.items()
        if registry.name in registries and env in snapshot.environments
    }
    if not tiers:
        raise BadInput(
            f"registry {registry.name} is granted to no environment, so no tier follows from it: "
            "give --tier (development, staging or production)"
        )
    return max(tiers, key=_ORDER.__getitem__)


def target_repository(registry: Registry, source_path: str) -> str:
    """Where a source repository lands in ``registry``: under its path scope, same path otherwise."""
    if within_scope(registry, source_path):
        return source_path
    return "/".join((*registry.location.scope, source_path))


@dataclass(frozen=True)
class _Access:
    """How to open clients for one registry (the credential opened once per run)."""

    registry: Registry
    endpoint: RegistryEndpoint
    provider: CredentialProvider
    development_only: bool

    @classmethod
    def of(cls, hm: Harbourmaster, registry: Registry, *, actor: str) -> _Access:
        endpoint, development_only = endpoint_for(hm, registry, actor=actor, purpose="mirror")
        provider = provider_for(hm, registry, actor=actor, purpose="mirror")
        return cls(registry, endpoint, provider, development_only)

    def client(self, hm: Harbourmaster) -> Any:
        return hm.registry_clients.client(
            self.endpoint,
            provider=self.provider,
            options=MIRROR_OPTIONS,
            development_only=self.development_only,
        )


@dataclass
class _Run:
    hm: Harbourmaster
    principal: Principal
    target: _Access
    sources: dict[str, _Access]
    tier: Tier
    signer: str | None
    progress: MirrorProgress

    def copier(self, image: ResolvedImage, source: Any, target: Any) -> ImageCopier:
        src = self.sources[image.registry]
        return ImageCopier(
            source=source,
            target=target,
            source_repo=image.repository,
            target_repo=target_repository(self.target.registry, image.repository),
            same_registry=src.endpoint.host == self.target.endpoint.host,
        )

    async def _look(self, image: ResolvedImage) -> tuple[bool, FetchedManifest]:
        async with (
            self.sources[image.registry].client(self.hm) as source,
            self.target.client(self.hm) as target,
        ):
            copier = self.copier(image, source, target)
            return await copier.present(image.digest), await source.get_manifest(
                image.repository, image.digest
            )

    def _scan(self, image: ResolvedImage, fetched: FetchedManifest) -> tuple[int, list[str], str | None]:
        """(findings, blocking finding ids, the verdict's reason when it blocks) over every platform."""
        from harbourmaster.services.scans import scan_target  # the scanner, at first use

        digests = [image.digest]
        if isinstance(fetched.parsed, ImageIndex):
            digests = [
                str(d.digest)
                for d in fetched.parsed.manifests
                if d.platform is None or d.platform.os != "unknown"  # buildkit's attestation entries
            ]
        findings, blocking, reason = 0, [], None
        for digest in digests:
            self.progress(message=f"{image.path}: scanning {image.name}@{digest}")
            result = scan_target(self.hm, self.principal, target=f"{image.name}@{digest}", tier=self.tier)
            findings += len(result.findings)
            if result.fails and result.verdict is not None:
                blocking += [b for b in result.verdict.blocking if b not in blocking]
                reason = reason or result.verdict.reason
        return findings, blocking, reason

    async def _copy(self, image: ResolvedImage, *, copy: bool) -> dict[str, Any]:
        async with (
            self.sources[image.registry].client(self.hm) as source,
            self.target.client(self.hm) as target,
        ):
            copier = self.copier(image, source, target)
            copier.on_bytes = self._bytes(image)
            fetched = (
                await copier.image(image.digest)
                if copy
                else await source.get_manifest(image.repository, image.digest)
            )
            for subject in await copier.subjects(fetched):
                await copier.referrers(subject)
                await copier.cosign_tags(subject)
            counts = copier.counts
            return {
                "blobs": counts.blobs,
                "bytes": counts.bytes,
                "referrers": counts.referrers,
                "cosign_tags": counts.cosign_tags,
            }

    def _bytes(self, image: ResolvedImage) -> Callable[[int], None]:
        total = [0]

        def seen(count: int) -> None:
            total[0] += count
            self.progress(message=f"{image.path}: {total[0] / 2**20:.1f} MiB copied")

        return seen

    async def _finish(self, image: ResolvedImage) -> tuple[list[str], str | None]:
        """Tag the copied image (last), and read back the digest of its signature manifest."""
        from harbourmaster.signing.oci import signature_tag

        async with (
            self.sources[image.registry].client(self.hm) as source,
            self.target.client(self.hm) as target,
        ):
            copier = self.copier(image, source, target)
            fetched = await target.get_manifest(copier.target_repo, image.digest)
            tagged = [tag for tag in image.tags if await copier.tag(fetched, tag)]
            try:
                head = await target.head_manifest(copier.target_repo, signature_tag(image.digest))
            except NotFoundInRegistry:
                return tagged, None
            return tagged, None if head.digest is None else str(head.digest)

    def _sign(self, target_ref: str) -> str | None:
        if self.signer is None:
            return None
        from harbourmaster.services.signing import sign_image
        from harbourmaster.services.signing_sources import VaultKey

        return sign_image(self.hm, self.principal, target_ref, key=VaultKey(self.signer)).location

    def one(self, image: ResolvedImage) -> MirroredImagePublic:
        target_repo = target_repository(self.target.registry, image.repository)
        target_ref = f"{self.target.registry.location.host}/{target_repo}@{image.digest}"
        present, fetched = run_sync(self._look(image))
        base = MirroredImagePublic(
            path=image.path,
            source=image.reference,
            digest=image.digest,
            kind=image.kind,
            tags=list(image.tags),
            target=target_ref,
            outcome="skipped",
            scanned=False,
        )
        if present:
            base.scan_note = "already at the target by digest: not copied or scanned again"
            base = base.model_copy(update=run_sync(self._copy(image, copy=False)))
            base.tags_set, base.signature_digest = run_sync(self._finish(image))
            return base
        if image.kind == "artifact":
            base.scan_note = "an OCI artifact, not an image: no SBOM, no scan"
        else:
            base.findings, base.blocking, base.verdict_reason = self._scan(image, fetched)
            base.scanned = True
            if base.blocking or base.verdict_reason:
                base.outcome = "refused"
                return base
        self.progress(message=f"{image.path}: copying {image.reference}")
        base = base.model_copy(update={**run_sync(self._copy(image, copy=True)), "outcome": "copied"})
        base.signature = self._sign(target_ref)
        base.tags_set, base.signature_digest = run_sync(self._finish(image))
        return base


def _audit_image(
    hm: Harbourmaster, actor: str, result: MirroredImagePublic, run_details: dict[str, object]
) -> None:
    with hm.store.transaction() as tx:
        tx.audit.append(
            actor=actor,
            action="mirror.image",
            target=result.target,
            details={
                **run_details,
                "path": result.path,
                "source": result.source,
                "digest": result.digest,
                "kind": result.kind,
                "outcome": result.outcome,
                "scanned": result.scanned,
                "findings": result.findings,
                "blocking": result.blocking,
                "referrers": len(result.referrers),
                "tags": result.tags_set,
                "signature": result.signature,
                "signature_digest": result.signature_digest,
            },
        )


def mirror(
    hm: Harbourmaster,
    principal: Principal,
    image_set_text: str,
    *,
    source: str,
    to_registry: str,
    tier: Tier | None = None,
    progress: MirrorProgress | None = None,
) -> MirrorResultPublic:
    """Mirror the ImageSet ``image_set_text`` (read from ``source``, named in errors) into registry
    ``to_registry``: resolve, skip what is there by digest, scan against ``tier`` (default: the
    strictest tier the target is granted to), refuse what the tier blocks, copy with every referrer,
    sign with the set's ``signer``, tag last.  A refused image does not stop the others.

    Raises:
        Forbidden: ``principal`` may not use registry credentials, or (with a signer) may not sign.
        ImageSetInvalid: the set is malformed, or entries do not resolve (each by its path).
        NotFound: no such target registry or signing key.
        BadInput: no tier given and the target is granted to no environment.
        RegistryError: a registry failed; what was copied before stays (a rerun skips it).
    """
    require(principal, Permission.REGISTRY_PROBE)
    require(principal, Permission.GOVERNANCE_READ)
    image_set = read_image_set(image_set_text, source=source)
    if image_set.signer is not None:
        require(principal, Permission.IMAGE_SIGN)
        from harbourmaster.services.signing_keys import signing_key

        signing_key(hm, principal, image_set.signer)  # NotFound before anything is copied
    target = named_registry(hm, to_registry)
    judged_by = tier or default_tier(hm, target)
    report = progress or (lambda fraction=None, message=None: None)
    actor = principal.audit_name
    details: dict[str, object] = {
        "image_set": source,
        "target_registry": target.name,
        "tier": judged_by.value,
        "signer": image_set.signer,
    }
    with failure_audited(hm, actor=actor, action="mirror.run", target=target.name, details=details):
        report(0.0, "resolving the image set")
        images = resolve_image_set(hm, principal, image_set)
        sources = {
            name: _Access.of(hm, hm.snapshot().registries[name], actor=actor)
            for name in dict.fromkeys(i.registry for i in images)
        }
        run = _Run(
            hm, principal, _Access.of(hm, target, actor=actor), sources, judged_by, image_set.signer, report
        )
        results = []
        for index, image in enumerate(images):
            report(index / max(1, len(images)), f"{image.path}: {image.reference}")
            outcome = run.one(image)
            _audit_image(hm, actor, outcome, {"target_registry": target.name, "tier": judged_by.value})
            results.append(outcome)
    counts = {k: sum(1 for r in results if r.outcome == k) for k in ("copied", "skipped", "refused")}
    with hm.store.transaction() as tx:
        tx.audit.append(
            actor=actor,
            action="mirror.run",
            target=target.name,
            details={**details, "images": len(results), **counts},
        )
    report(1.0, f"{counts['copied']} copied, {counts['skipped']} skipped, {counts['refused']} refused")
    return MirrorResultPublic(
        image_set=source,
        target_registry=target.name,
        tier=judged_by.value,
        signer=image_set.signer,
        images=results,
        **counts,
    )
