"""``airgap import``: a signed air-gap bundle pushed into a registry of the disconnected zone, and
recorded as that registry's approved content.

Order, and why:

1. ``manifest.json.sig`` is verified against the key given (a PEM file, or a vault key by name)
   before anything else of the bundle is read; only then is the manifest parsed.
2. Every file is checked against the signed file list and ``checksums.sha256``, every blob's files
   are joined and hashed against its digest, every manifest is parsed and every blob it names is
   in the bundle (or, for a delta, already in the registry).  Nothing is pushed before all of this
   passes: a bundle tampered in any way leaves the registry as it was.
3. Blobs, then platform manifests, then indexes, then referrers (signatures, SBOMs), then tags last,
   so nothing half-imported is visible under a tag.  What the registry already has (``HEAD`` by
   digest) is skipped, so a rerun after an interruption resumes, and a second run changes nothing.
4. The advisory database the bundle carries (``advisories/osv-NNNN.zip``, verified in step 2 like
   every file) is imported through ``vulndb import``'s service (one transaction, audited
   ``vulndb.import``, then the stored SBOMs it newly affects are found), unless ``advisories`` is
   False.  Each zip is hashed again against the signed manifest just before it is read.
5. The images become the registry's approved content, audited as ``airgap.import`` in the same
   transaction (``emergency`` and its reason when given, and the advisory import's counts).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from harbourmaster.airgap import (
    ADVISORIES,
    MANIFEST,
    SIGNATURE,
    BlobEntry,
    BundleInvalid,
    BundleManifest,
    BundleReader,
    BundleTampered,
    ImageEntry,
    canonical_json,
    parse_bundle_manifest,
)
from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.model import Registry
from harbourmaster.errors import BadInput
from harbourmaster.registry import NotFoundInRegistry, RegistryClient
from harbourmaster.registry.media import ImageIndex, ImageManifest, parse_manifest
from harbourmaster.services.audit_failures import failure_audited
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_endpoints import endpoint_for, provider_for, run_sync
from harbourmaster.services.registry_scope import named_registry
from harbourmaster.services.signing_blobs import verify_blob
from harbourmaster.services.signing_trust import PublicKeyFile
from harbourmaster.services.vulns import import_vulndb
from harbourmaster.store.approved_content_interface import ApprovedImage
from harbourmaster.supply.advisories import AdvisorySource, InvalidAdvisory, RawRecord
from harbourmaster.supply.advisories.osv import OsvZip

__all__ = ["ImportResult", "import_bundle", "target_repository"]

_CONCURRENCY: Final = 4
_CHUNK: Final = 1024 * 1024

#: Told (phase, total bytes or None, bytes done since the last call): phases ``verify``, ``push``.
Progress = Callable[[str, int | None, int], None]


@dataclass(frozen=True, kw_only=True)
class ImportResult:
    """What an import did: the registry, the bundle's manifest sha256, the images (``repo@digest``) and
    how much was pushed or found already there."""

    bundle: str
    registry: str
    manifest_sha256: str
    images: list[str]
    blobs_pushed: int
    blobs_present: int
    manifests_pushed: int
    tags_set: int
    bytes_pushed: int
    emergency: bool
    reason: str | None
    #: The advisory import's counts (``import_id``, ``records``, ``inserted``, ``updated``,
    #: ``unchanged``, ``withdrawn``, ``skipped``), or None: the bundle carries none, or not asked.
    advisories: dict[str, int] | None = None


class _BundleAdvisories(AdvisorySource):
    """The bundle's OSV zips, in order, each joined (if in pieces) and re-hashed just before it is read."""

    def __init__(self, reader: BundleReader, manifest: BundleManifest) -> None:
        self._reader, self._archives = reader, manifest.advisories
        self.description = f"{reader.name}/{ADVISORIES}"

    def records(self) -> Iterator[RawRecord | InvalidAdvisory]:
        for archive in self._archives:
            with tempfile.TemporaryDirectory(prefix="hm-advisories-") as scratch:
                path = self._reader.join_archive(archive, Path(scratch))
                source = OsvZip(path)
                for record in source.records():
                    if isinstance(record, RawRecord):
                        # Name the record by its place in the bundle, not a scratch path.
                        yield RawRecord(record.where.replace(str(path), archive.path, 1), record.data)
                    else:
                        yield record


@dataclass
class _Plan:
    """One image's push, worked out before anything is pushed."""

    image: ImageEntry
    repository: str
    blobs: list[str] = field(default_factory=list)
    #: (digest, media type, bytes), platform manifests before the index
    manifests: list[tuple[str, str, bytes]] = field(default_factory=list)
    #: (digest, media type, bytes, tag or None)
    referrers: list[tuple[str, str, bytes, str | None]] = field(default_factory=list)
    top: tuple[str, str, bytes] | None = None


@dataclass
class _Counts:
    blobs_pushed: int = 0
    blobs_present: int = 0
    manifests_pushed: int = 0
    tags_set: int = 0
    bytes_pushed: int = 0


def target_repository(registry: Registry, path: str) -> str:
    """Where an image of source path ``path`` goes in ``registry``: under the registry's scope, if any."""
    scope = "/".join(registry.location.scope)
    if not scope or path == scope or path.startswith(f"{scope}/"):
        return path
    return f"{scope}/{path}"


def _verified_manifest(
    reader: BundleReader, *, key: PublicKeyFile | None, signer: str | None, hm: Any
) -> bytes:
    raw, signature = reader.signed_bytes()
    check = verify_blob(
        raw,
        signature,
        keys=[key] if key is not None else [],
        what=f"{reader.name}/{MANIFEST}",
        hm=hm if signer is not None else None,
        vault_keys=[signer] if signer is not None else [],
    )
    if not check.verified:
        raise BundleTampered(reader.name, SIGNATURE, "signature", check.reason)
    return raw


def _plans(reader: BundleReader, manifest: BundleManifest, registry: Registry) -> list[_Plan]:
    """Every image's push; refuses a manifest that names content the bundle does not account for."""
    omitted = {b.digest for b in manifest.omitted}

    def blob(digest: str, what: str) -> BlobEntry:
        entry = manifest.blob(digest)
        if entry is None:
            raise BundleTampered(reader.name, MANIFEST, "content", f"{what} {digest} is not in the bundle")
        return entry

    def content(parsed: Any, plan: _Plan, what: str) -> None:
        if not isinstance(parsed, ImageManifest):
            return
        for desc in (parsed.config, *parsed.layers):
            if desc.digest not in omitted:
                entry = blob(desc.digest, f"{what}: blob")
                if entry.size != desc.size:
                    raise BundleTampered(reader.name, MANIFEST, "content", f"{what}: blob {desc.digest} size")
            if desc.digest not in plan.blobs:
                plan.blobs.append(desc.digest)

    def load(digest: str, media_type: str, what: str) -> tuple[bytes, Any]:
        raw = reader.read_small(blob(digest, what))
        try:
            return raw, parse_manifest(raw, content_type=media_type)
        except ValueError as exc:
            raise BundleTampered(reader.name, MANIFEST, "content", f"{what} {digest}: {exc}") from None

    plans = []
    for image in manifest.images:
        name = f"{image.repository}@{image.digest}"
        plan = _Plan(image=image, repository=target_repository(registry, image.path))
        raw, parsed = load(image.digest, image.media_type, f"{name}: manifest")
        if isinstance(parsed, ImageIndex):
            listed = {p.digest for p in image.platforms}
            for desc in parsed.manifests:
                if desc.digest not in listed:
                    raise BundleTampered(
                        reader.name, MANIFEST, "content", f"{name}: {desc.digest} not listed"
                    )
                child_raw, child = load(desc.digest, desc.media_type, f"{name}: platform manifest")
                content(child, plan, name)
                plan.manifests.append((desc.digest, desc.media_type, child_raw))
        else:
            content(parsed, plan, name)
        plan.top = (image.digest, image.media_type, raw)
        for ref in image.referrers:
            ref_raw, ref_parsed = load(ref.digest, ref.media_type, f"{name}: referrer")
            content(ref_parsed, plan, f"{name}: referrer {ref.digest}")
            plan.referrers.append((ref.digest, ref.media_type, ref_raw, ref.tag))
        plans.append(plan)
    return plans


async def _chunks(paths: tuple[Path, ...]) -> AsyncIterator[bytes]:
    for path in paths:
        with open(path, "rb") as fh:
            while block := await asyncio.to_thread(fh.read, _CHUNK):
                yield block


async def _missing_bases(
    client: RegistryClient, plans: list[_Plan], manifest: BundleManifest, registry: Registry
) -> list[str]:
    """The blobs a delta leaves out that the registry has neither where needed nor where they were put."""
    omitted = {b.digest: b for b in manifest.omitted}
    problems = []
    for plan in plans:
        for digest in plan.blobs:
            base = omitted.get(digest)
            if base is None or await client.blob_size(plan.repository, digest) is not None:
                continue
            if await client.blob_size(target_repository(registry, base.repository), digest) is None:
                problems.append(
                    f"{plan.repository}: blob {digest} (left out of this delta) is not in the registry"
                )
    return problems


async def _push(
    client: RegistryClient,
    reader: BundleReader,
    manifest: BundleManifest,
    plans: list[_Plan],
    registry: Registry,
    progress: Progress | None,
) -> _Counts:
    counts = _Counts()
    omitted = {b.digest: b for b in manifest.omitted}
    pushed_to: dict[str, str] = {}
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def push_blob(repository: str, digest: str) -> None:
        async with gate:
            if await client.blob_size(repository, digest) is not None:
                counts.blobs_present += 1
                pushed_to.setdefault(digest, repository)
                return
            base = omitted.get(digest)
            source = pushed_to.get(digest) or (
                target_repository(registry, base.repository) if base is not None else None
            )
            mountable = source is not None and source != repository
            if mountable and await client.mount_blob(repository, digest, from_repository=str(source)):
                counts.blobs_present += 1
                return
            entry = manifest.blob(digest)
            if entry is None:
                raise BundleInvalid(f"{repository}: blob {digest} cannot be mounted from {source}")
            paths = reader.blob_paths(entry)
            if len(paths) == 1:
                await client.upload_blob(repository, paths[0], digest=digest)
            else:
                await client.upload_blob_stream(repository, _chunks(paths), digest=digest, size=entry.size)
            pushed_to.setdefault(digest, repository)
            counts.blobs_pushed += 1
            counts.bytes_pushed += entry.size
            if progress is not None:
                progress("push", None, entry.size)

    async def ensure(repository: str, digest: str, media_type: str, raw: bytes) -> None:
        try:
            await client.head_manifest(repository, digest)
        except NotFoundInRegistry:
            await client.put_manifest(repository, digest, raw, media_type=media_type)
            counts.manifests_pushed += 1

    # Blobs of every image first (a blob shared by images is uploaded once, then mounted).
    for plan in plans:
        first = [d for d in plan.blobs if d not in pushed_to]
        await asyncio.gather(*(push_blob(plan.repository, d) for d in first))
        await asyncio.gather(*(push_blob(plan.repository, d) for d in plan.blobs if d not in first))
    for plan in plans:
        for digest, media_type, raw in plan.manifests:
            await ensure(plan.repository, digest, media_type, raw)
        assert plan.top is not None
        await ensure(plan.repository, *plan.top)
    for plan in plans:
        for digest, media_type, raw, tag in plan.referrers:
            if tag is None:
                # Always put: it also brings the subject's referrers tag up to date after an interruption.
                await client.put_manifest(plan.repository, digest, raw, media_type=media_type)
                continue
            await ensure(plan.repository, digest, media_type, raw)
            await _tag(client, plan.repository, tag, digest, media_type, raw)
    for plan in plans:
        assert plan.top is not None
        for tag in plan.image.tags:
            if await _tag(client, plan.repository, tag, *plan.top):
                counts.tags_set += 1
    return counts


async def _tag(
    client: RegistryClient, repository: str, tag: str, digest: str, media_type: str, raw: bytes
) -> bool:
    try:
        head = await client.head_manifest(repository, tag)
        if head.digest == digest:
            return False
    except NotFoundInRegistry:
        pass
    await client.put_manifest(repository, tag, raw, media_type=media_type)
    return True


def import_bundle(
    hm: Harbourmaster,
    principal: Principal,
    bundle: Path,
    *,
    registry: str,
    key: PublicKeyFile | None = None,
    signer: str | None = None,
    emergency: bool = False,
    reason: str | None = None,
    advisories: bool = True,
    progress: Progress | None = None,
) -> ImportResult:
    """Verify ``bundle`` completely, then push it into ``registry``, import the advisories it carries
    (unless ``advisories`` is False) and record its images as the registry's approved content.
    Audited as ``airgap.import`` (refusals and failures too); the advisory import as ``vulndb.import``.

    Raises:
        Forbidden: ``principal`` is not a registry operator, or the bundle carries advisories to import
            and ``principal`` may not write the advisory database (checked before anything is pushed).
        BundleTampered: the signature, a file, a checksum or a blob fails its check (nothing pushed).
        BadInput: not exactly one of ``key``/``signer``; ``emergency`` without a reason; a malformed
            bundle; a delta whose base is not in the registry.
        NotFound: no such registry or vault key.
        RegistryError: the registry failed or refused a push (rerun to resume).
        InvalidAdvisory: an advisory zip cannot be read (nothing of it is imported; rerun after fixing).
    """
    require(principal, Permission.REGISTRY_PROBE)
    if (key is None) == (signer is None):
        raise BadInput("give exactly one of --key PUBLIC_KEY or --signer NAME to verify the bundle with")
    if emergency and not (reason and reason.strip()):
        raise BadInput("--emergency needs --reason TEXT: an emergency import is audited with its reason")
    if reason is not None and not emergency:
        raise BadInput("--reason is for --emergency imports")
    target = named_registry(hm, registry)
    actor = principal.audit_name
    details: dict[str, object] = {"registry": target.name, "emergency": emergency}
    if emergency:
        details["reason"] = reason
    with failure_audited(hm, actor=actor, action="airgap.import", target=str(bundle), details=details):
        reader = BundleReader(bundle, progress=(lambda n: progress("verify", None, n)) if progress else None)
        raw = _verified_manifest(reader, key=key, signer=signer, hm=hm)
        manifest = parse_bundle_manifest(raw, source=f"{bundle}/{MANIFEST}")
        if canonical_json(json.loads(raw)) != raw:
            raise BundleInvalid(f"{bundle}/{MANIFEST}: not canonical JSON (sorted keys, no spaces)")
        take_advisories = advisories and bool(manifest.advisories)
        details["advisories"] = "imported" if take_advisories else "skipped" if manifest.advisories else None
        if take_advisories:
            require(principal, Permission.VULNDB_WRITE)
        if progress is not None:
            progress("verify", sum(f.size for f in manifest.files), 0)
        reader.verify(manifest, raw)
        plans = _plans(reader, manifest, target)
        manifest_sha = hashlib.sha256(raw).hexdigest()
        details["manifest_sha256"] = manifest_sha
        endpoint, development_only = endpoint_for(hm, target, actor=actor, purpose="airgap.import")
        provider = provider_for(hm, target, actor=actor, purpose="airgap.import")

        async def run() -> _Counts:
            async with hm.registry_clients.client(
                endpoint, provider=provider, development_only=development_only
            ) as client:
                missing = await _missing_bases(client, plans, manifest, target)
                if missing:
                    raise BundleInvalid(
                        f"{bundle}: a delta since {manifest.since}; import that bundle first", details=missing
                    )
                if progress is not None:
                    progress("push", sum(b.size for b in manifest.blobs), 0)
                return await _push(client, reader, manifest, plans, target, progress)

        counts = run_sync(run())
        advisory_counts = None
        if take_advisories:
            report = import_vulndb(hm, principal, source=_BundleAdvisories(reader, manifest))
            advisory_counts = {
                "import_id": report.import_id,
                "records": report.records,
                "inserted": report.inserted,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "withdrawn": report.withdrawn,
                "skipped": report.skipped,
            }
    now = hm.clock.now()
    approved = [
        ApprovedImage(
            registry=target.name,
            repository=plan.repository,
            digest=plan.image.digest,
            tags=plan.image.tags,
            bundle_sha256=manifest_sha,
            imported_by=actor,
            imported_at=now,
            emergency=emergency,
            reason=reason if emergency else None,
        )
        for plan in plans
    ]
    result = ImportResult(
        bundle=str(bundle),
        registry=target.name,
        manifest_sha256=manifest_sha,
        images=[f"{p.repository}@{p.image.digest}" for p in plans],
        blobs_pushed=counts.blobs_pushed,
        blobs_present=counts.blobs_present,
        manifests_pushed=counts.manifests_pushed,
        tags_set=counts.tags_set,
        bytes_pushed=counts.bytes_pushed,
        emergency=emergency,
        reason=reason if emergency else None,
        advisories=advisory_counts,
    )
    with hm.store.transaction() as tx:
        tx.approved_content.record(approved)
        tx.audit.append(
            actor=actor,
            action="airgap.import",
            target=str(bundle),
            details={
                **details,
                "since": manifest.since,
                "signer": manifest.signer,
                "images": result.images,
                "blobs_pushed": counts.blobs_pushed,
                "blobs_present": counts.blobs_present,
                "advisory_snapshot": manifest.advisory_snapshot,
                "advisory_import": advisory_counts,
            },
        )
    return result
