"""``airgap export``: an ImageSet's images, with their platform manifests and referrers, written as a
signed air-gap bundle (the format: :mod:`harbourmaster.airgap.bundle`).

Each image is resolved to its digest (:func:`~harbourmaster.services.imagesets.resolve_image_set`),
then its manifests, its referrers (the referrers API or the ``sha256-<hex>`` tag schema) and cosign's
``sha256-<hex>.sig``, ``.att`` and ``.sbom`` manifests (those present) are read, and every blob is
streamed from the registry into its place in the bundle, its digest checked as it is written (a
temporary name, renamed once verified; never held whole in memory, never written twice).  With
``since`` the blobs of the previous bundle are left out; manifests are always carried.  With
``advisories`` the advisory database goes in too, as OSV zips
(:mod:`harbourmaster.services.advisory_export`) listed in the manifest like every other file.  The
content manifest is written last, signed with the named vault key (cosign ``sign-blob`` format), and
the export is audited as ``airgap.export``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from harbourmaster.airgap import (
    ADVISORIES,
    CHECKSUMS,
    MANIFEST,
    SIGNATURE,
    AdvisoryArchive,
    BlobEntry,
    BundleInvalid,
    BundleManifest,
    BundleWriter,
    ImageEntry,
    OmittedBlob,
    PlatformEntry,
    ReferrerEntry,
    canonical_json,
    parse_bundle_manifest,
)
from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.imageset import ImageSet
from harbourmaster.errors import BadInput
from harbourmaster.registry import NotFoundInRegistry, RegistryClient
from harbourmaster.registry.media import ImageIndex, ImageManifest
from harbourmaster.services.advisory_export import write_osv_zip
from harbourmaster.services.audit_failures import failure_audited
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.imagesets import ResolvedImage, resolve_image_set
from harbourmaster.services.mirror_copy import COSIGN_SUFFIXES
from harbourmaster.services.registry_endpoints import endpoint_for, provider_for, run_sync
from harbourmaster.services.signing_sources import VaultKey, private_key
from harbourmaster.signing.keys import fingerprint
from harbourmaster.signing.signatures import sign_bytes
from harbourmaster.store.values import AdvisoryRecord

__all__ = ["ExportResult", "export_bundle", "read_previous"]

_REF_NAME: Final = "org.opencontainers.image.ref.name"
_CONCURRENCY: Final = 4
_MAX_PREVIOUS: Final = 64 * 1024 * 1024
#: Records per OSV zip of the advisory database: a zip's central directory is held in memory while it
#: is written (about 600 bytes a record), so the database goes into several zips of bounded size.
ADVISORIES_PER_ARCHIVE: Final = 5000

#: Told the total bytes to fetch once known, then each chunk of bytes written.
Progress = Callable[[int | None, int], None]


@dataclass(frozen=True, kw_only=True)
class ExportResult:
    """What an export wrote: the bundle, its manifest's sha256, counts and sizes."""

    bundle: str
    manifest_sha256: str
    signer: str
    key_fingerprint: str
    images: int
    blobs: int
    omitted: int
    bytes_written: int
    parts: int
    since: str | None
    advisory_snapshot: int | None
    #: Advisories carried as OSV records (None: not asked for), and how many of them kept their
    #: severity but not their CVSS score (no vector of that version reaches it).
    advisories: int | None = None
    advisories_approximated: int = 0


@dataclass
class _Collected:
    images: list[ImageEntry] = field(default_factory=list)
    #: digest -> (size, source repository path, bytes for a manifest else None)
    blobs: dict[str, tuple[int, str, bytes | None]] = field(default_factory=dict)
    #: (registry name, repository path, digest) of each blob to stream, in order
    fetches: list[tuple[str, str, str]] = field(default_factory=list)
    index: list[dict[str, Any]] = field(default_factory=list)
    #: where each streamed blob was placed (its file, or its pieces in order)
    placed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    omitted: list[OmittedBlob] = field(default_factory=list)


def read_previous(path: Path) -> tuple[str, BundleManifest]:
    """The sha256 and the content of a previous bundle's ``manifest.json`` (for ``--since``).

    Raises:
        BundleInvalid: unreadable or not a bundle manifest.
    """
    try:
        with open(path, "rb") as fh:
            raw = fh.read(_MAX_PREVIOUS + 1)
    except OSError as exc:
        raise BundleInvalid(f"--since {path}: cannot be read ({exc.strerror})") from None
    if len(raw) > _MAX_PREVIOUS:
        raise BundleInvalid(f"--since {path}: larger than {_MAX_PREVIOUS} bytes")
    return f"sha256:{hashlib.sha256(raw).hexdigest()}", parse_bundle_manifest(raw, source=f"--since {path}")


def _client(hm: Harbourmaster, registry: Any, *, actor: str) -> RegistryClient:
    endpoint, development_only = endpoint_for(hm, registry, actor=actor, purpose="airgap.export")
    provider = provider_for(hm, registry, actor=actor, purpose="airgap.export")
    return hm.registry_clients.client(endpoint, provider=provider, development_only=development_only)


def _add_manifest(found: _Collected, digest: str, raw: bytes, path: str) -> None:
    found.blobs.setdefault(digest, (len(raw), path, raw))


def _add_blobs(found: _Collected, parsed: Any, registry: str, path: str) -> None:
    if not isinstance(parsed, ImageManifest):
        return
    for desc in (parsed.config, *parsed.layers):
        if desc.digest not in found.blobs:
            found.blobs[desc.digest] = (desc.size, path, None)
            found.fetches.append((registry, path, desc.digest))


async def _referrers(
    client: RegistryClient, found: _Collected, image: ResolvedImage, subject: str
) -> list[ReferrerEntry]:
    entries: list[ReferrerEntry] = []
    listed = await client.referrers(image.repository, subject)
    for desc in listed.descriptors:
        fetched = await client.get_manifest(image.repository, desc.digest)
        _add_manifest(found, fetched.digest, fetched.raw, image.repository)
        _add_blobs(found, fetched.parsed, image.registry, image.repository)
        entries.append(
            ReferrerEntry(
                digest=fetched.digest,
                media_type=fetched.media_type,
                size=len(fetched.raw),
                subject=subject,
                artifact_type=desc.artifact_type,
            )
        )
    algorithm, _, hex_part = subject.partition(":")
    for suffix in COSIGN_SUFFIXES:
        tag = f"{algorithm}-{hex_part}{suffix}"
        try:
            cosign = await client.get_manifest(image.repository, tag)
        except NotFoundInRegistry:
            continue
        _add_manifest(found, cosign.digest, cosign.raw, image.repository)
        _add_blobs(found, cosign.parsed, image.registry, image.repository)
        entries.append(
            ReferrerEntry(
                digest=cosign.digest,
                media_type=cosign.media_type,
                size=len(cosign.raw),
                subject=subject,
                artifact_type=None,
                tag=tag,
            )
        )
    return entries


async def _collect_image(client: RegistryClient, found: _Collected, image: ResolvedImage) -> None:
    top = await client.get_manifest(image.repository, image.digest)
    _add_manifest(found, top.digest, top.raw, image.repository)
    platforms: list[PlatformEntry] = []
    subjects = [top.digest]
    if isinstance(top.parsed, ImageIndex):
        for desc in top.parsed.manifests:
            child = await client.get_manifest(image.repository, desc.digest)
            _add_manifest(found, child.digest, child.raw, image.repository)
            _add_blobs(found, child.parsed, image.registry, image.repository)
            plat = desc.platform
            platforms.append(
                PlatformEntry(
                    digest=child.digest,
                    media_type=child.media_type,
                    size=len(child.raw),
                    platform=f"{plat.os}/{plat.architecture}" if plat is not None else "unknown",
                )
            )
            subjects.append(child.digest)
    else:
        _add_blobs(found, top.parsed, image.registry, image.repository)
    referrers: list[ReferrerEntry] = []
    for subject in subjects:
        referrers.extend(await _referrers(client, found, image, subject))
    found.images.append(
        ImageEntry(
            repository=image.name,
            path=image.repository,
            tags=tuple(image.tags),
            digest=top.digest,
            media_type=top.media_type,
            size=len(top.raw),
            platforms=tuple(platforms),
            referrers=tuple(referrers),
        )
    )
    descriptor = {"mediaType": top.media_type, "digest": top.digest, "size": len(top.raw)}
    for tag in image.tags or ("",):
        entry = dict(descriptor)
        if tag:
            entry["annotations"] = {_REF_NAME: f"{image.name}:{tag}"}
        found.index.append(entry)
    for ref in referrers:
        found.index.append({"mediaType": ref.media_type, "digest": ref.digest, "size": ref.size})


async def _fetch(
    clients: dict[str, RegistryClient],
    writer: BundleWriter,
    plans: list[tuple[str, str, str, list[tuple[str, int]]]],
    progress: Progress | None,
) -> None:
    gate = asyncio.Semaphore(_CONCURRENCY)

    async def one(registry: str, path: str, digest: str, plan: list[tuple[str, int]]) -> None:
        client = clients[registry]
        size = sum(n for _, n in plan)
        async with gate:
            if len(plan) == 1:
                dest = writer.root / plan[0][0]
                dest.parent.mkdir(parents=True, exist_ok=True)
                await client.download_blob(path, digest, dest, expected_size=size)
                writer.adopt(plan[0][0], sha256=digest.partition(":")[2], size=size)
                if progress is not None:
                    progress(None, size)
                return
            sink = writer.sink(plan)
            try:
                async for chunk in client.stream_blob(path, digest, expected_size=size):
                    await asyncio.to_thread(sink.write, chunk)
                    if progress is not None:
                        progress(None, len(chunk))
            except BaseException:
                sink.abort()
                raise
            sink.commit()

    await asyncio.gather(*(one(*p) for p in plans))


def export_bundle(
    hm: Harbourmaster,
    principal: Principal,
    image_set: ImageSet,
    *,
    output: Path,
    since: Path | None = None,
    split_size: int | None = None,
    signer: str | None = None,
    advisories: bool = False,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the bundle of ``image_set`` to ``output`` (a new or empty directory), signed by ``signer``
    (default: the image set's); with ``advisories``, the advisory database too, as OSV zips read from
    the store a batch at a time.  Audited as ``airgap.export`` (failures too).

    Raises:
        Forbidden: ``principal`` may not read registries with their credentials, or may not sign.
        BadInput: no signer; ``output`` not empty; ``since`` not a bundle manifest.
        ImageSetInvalid: entries that do not resolve (every one, by its document path).
        NotFound: no such signing key.
        RegistryError: a registry failed, or a blob did not match its digest.
    """
    require(principal, Permission.REGISTRY_PROBE)
    require(principal, Permission.IMAGE_SIGN)
    if advisories:
        require(principal, Permission.GOVERNANCE_READ)
    key_name = signer or image_set.signer
    if key_name is None:
        raise BadInput("give --signer NAME or a signer in the image set: the bundle manifest is signed")
    actor = principal.audit_name
    details: dict[str, object] = {
        "signer": key_name,
        "since": str(since) if since else None,
        "advisories": advisories,
    }
    with failure_audited(hm, actor=actor, action="airgap.export", target=str(output), details=details):
        private, key_name = private_key(hm, VaultKey(key_name))
        previous_sha, previous = read_previous(since) if since is not None else (None, None)
        resolved = resolve_image_set(hm, principal, image_set)
        writer = BundleWriter(output, split_size=split_size)
        snapshot = hm.state()
        found = _Collected()

        async def run() -> None:
            clients: dict[str, RegistryClient] = {}
            try:
                for image in resolved:
                    if image.registry not in clients:
                        clients[image.registry] = _client(hm, snapshot.registry(image.registry), actor=actor)
                    await _collect_image(clients[image.registry], found, image)
                plans = _plan(writer, found, previous)
                if progress is not None:
                    progress(sum(sum(n for _, n in p[3]) for p in plans), 0)
                await _fetch(clients, writer, plans, progress)
            finally:
                for client in clients.values():
                    await client.aclose()

        run_sync(run())
        omitted_blobs = found.omitted
        blob_entries = _write_manifests(writer, found)
        writer.write_file("oci/oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        writer.write_file("oci/index.json", canonical_json({"schemaVersion": 2, "manifests": found.index}))
        archives: list[AdvisoryArchive] = []
        approximated = 0
        with hm.store.read() as tx:
            # One read: the snapshot named is the one the advisories carried were read at.
            generation = tx.advisories.generation()
            if advisories:
                archives, approximated = _write_advisories(writer, tx.advisories.records())
        manifest = BundleManifest(
            created=hm.clock.now().isoformat(),
            creator=actor,
            signer=key_name,
            advisory_snapshot=generation,
            since=previous_sha,
            images=tuple(found.images),
            blobs=tuple(sorted(blob_entries, key=lambda b: b.digest)),
            omitted=tuple(sorted(omitted_blobs, key=lambda b: b.digest)),
            advisories=tuple(archives),
            files=tuple(sorted(writer.files.values(), key=lambda f: f.path)),
        )
        raw = manifest.to_bytes()
        writer.write_top(MANIFEST, raw)
        writer.write_top(SIGNATURE, base64.b64encode(sign_bytes(private, raw)))
        writer.write_top(CHECKSUMS, writer.checksums(raw))
    result = ExportResult(
        bundle=str(output),
        manifest_sha256=hashlib.sha256(raw).hexdigest(),
        signer=key_name,
        key_fingerprint=fingerprint(private),
        images=len(found.images),
        blobs=len(blob_entries),
        omitted=len(omitted_blobs),
        bytes_written=sum(f.size for f in writer.files.values()),
        parts=len({f.path.split("/")[0] for f in writer.files.values()}) if split_size else 1,
        since=previous_sha,
        advisory_snapshot=generation,
        advisories=sum(a.records for a in archives) if advisories else None,
        advisories_approximated=approximated,
    )
    with hm.store.transaction() as tx:
        tx.audit.append(
            actor=actor,
            action="airgap.export",
            target=str(output),
            details={
                **details,
                "manifest_sha256": result.manifest_sha256,
                "key_fingerprint": result.key_fingerprint,
                "images": [f"{i.repository}@{i.digest}" for i in found.images],
                "blobs": result.blobs,
                "omitted": result.omitted,
                "bytes": result.bytes_written,
                "advisory_snapshot": generation,
                "advisories": result.advisories,
                "advisories_approximated": approximated,
            },
        )
    return result


def _write_advisories(
    writer: BundleWriter, records: Iterator[AdvisoryRecord]
) -> tuple[list[AdvisoryArchive], int]:
    """Write ``records`` as OSV zips of :data:`ADVISORIES_PER_ARCHIVE` records each; the archives,
    and how many records kept their severity but not their score."""
    archives: list[AdvisoryArchive] = []
    approximated = 0
    while True:
        rel = f"{ADVISORIES}/osv-{len(archives) + 1:04d}.zip"
        scratch = writer.root / f".osv-{len(archives) + 1:04d}.zip.partial"
        try:
            written = write_osv_zip(itertools.islice(records, ADVISORIES_PER_ARCHIVE), scratch)
            if not written.records:
                break
            sha256, files = writer.add_file(rel, scratch)
        finally:
            scratch.unlink(missing_ok=True)
        size = sum(writer.files[f].size for f in files)
        archives.append(
            AdvisoryArchive(path=rel, sha256=sha256, size=size, records=written.records, files=files)
        )
        approximated += written.approximated
        if written.records < ADVISORIES_PER_ARCHIVE:
            break
    return archives, approximated


def _plan(
    writer: BundleWriter, found: _Collected, previous: BundleManifest | None
) -> list[tuple[str, str, str, list[tuple[str, int]]]]:
    """Where each streamed blob goes; the blobs a delta leaves out (they were in ``previous``) go to
    ``found.omitted``."""
    earlier: dict[str, str] = {}
    if previous is not None:
        earlier = {b.digest: b.repository for b in previous.omitted}
        earlier.update({b.digest: b.repository for b in previous.blobs})
    plans = []
    for registry, path, digest in found.fetches:
        size = found.blobs[digest][0]
        if digest in earlier:
            found.omitted.append(OmittedBlob(digest=digest, size=size, repository=earlier[digest]))
            continue
        plan = writer.place(f"oci/blobs/sha256/{digest[7:]}", size)
        found.placed[digest] = tuple(rel for rel, _ in plan)
        plans.append((registry, path, digest, plan))
    return plans


def _write_manifests(writer: BundleWriter, found: _Collected) -> list[BlobEntry]:
    """Write every manifest into the bundle; the entries of every blob it holds."""
    left_out = {b.digest for b in found.omitted}
    entries: list[BlobEntry] = []
    for digest, (size, path, raw) in found.blobs.items():
        if digest in left_out:
            continue
        if raw is not None:
            files = writer.write_file(f"oci/blobs/sha256/{digest[7:]}", raw)
        else:
            files = found.placed[digest]
        entries.append(BlobEntry(digest=digest, size=size, files=files, repository=path))
    return entries
