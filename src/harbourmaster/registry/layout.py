"""Copying images between a registry and an OCI image layout directory.

:func:`pull_to_layout` fetches a manifest (or index, with every platform),
then its blobs concurrently, each streamed to disk and verified against its
digest before it is renamed into ``blobs/<alg>/<hex>``; ``index.json`` is
written last (temp file + rename), so an interrupted pull never looks like a
complete image.  :func:`push_layout` does the reverse, blobs first, then child
manifests, then the top manifest under the tag.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path

from harbourmaster.errors import BadInput
from harbourmaster.registry.client import RegistryClient
from harbourmaster.registry.media import (
    Descriptor,
    Digest,
    ImageIndex,
    ImageManifest,
    compute_digest,
    parse_digest,
    parse_manifest,
)

__all__ = ["LayoutError", "PullResult", "pull_to_layout", "push_layout"]

_REF_NAME = "org.opencontainers.image.ref.name"


class LayoutError(BadInput):
    """An OCI image layout directory is missing, malformed, or lacks the named image."""

    kind = "oci-layout"


@dataclass(frozen=True)
class PullResult:
    """What a pull wrote: the top digest, its media type, blob count and bytes transferred."""

    digest: Digest
    media_type: str
    blobs: int
    bytes: int


def _blob_path(layout: Path, digest: str) -> Path:
    algorithm, _, encoded = digest.partition(":")
    return layout / "blobs" / algorithm / encoded


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


async def pull_to_layout(
    client: RegistryClient, repository: str, reference: str, layout: Path, *, tag: str | None = None
) -> PullResult:
    """Pull ``repository:reference`` (every platform of an index) into the OCI layout ``layout``.

    Raises:
        RegistryError: any registry failure, including a blob or manifest failing its digest.
    """
    layout = Path(layout)
    (layout / "blobs").mkdir(parents=True, exist_ok=True)
    top = await client.get_manifest(repository, reference)
    manifests = [top]
    if isinstance(top.parsed, ImageIndex):
        children = await asyncio.gather(
            *(client.get_manifest(repository, d.digest) for d in top.parsed.manifests)
        )
        manifests.extend(children)
    wanted: dict[str, Descriptor] = {}
    for fetched in manifests:
        _write_atomic(_blob_path(layout, fetched.digest), fetched.raw)
        if isinstance(fetched.parsed, ImageManifest):
            for desc in (fetched.parsed.config, *fetched.parsed.layers):
                wanted.setdefault(desc.digest, desc)
    semaphore = asyncio.Semaphore(max(1, client.options.concurrency))

    async def fetch(desc: Descriptor) -> int:
        path = _blob_path(layout, desc.digest)
        if path.exists() and path.stat().st_size == desc.size:
            return 0
        path.parent.mkdir(parents=True, exist_ok=True)
        async with semaphore:
            return await client.download_blob(repository, desc.digest, path, expected_size=desc.size)

    sizes = await asyncio.gather(*(fetch(d) for d in wanted.values()))
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index_path = layout / "index.json"
    entries = json.loads(index_path.read_text())["manifests"] if index_path.exists() else []
    name = tag or (reference if ":" not in reference else None)
    entry = {"mediaType": top.media_type, "digest": top.digest, "size": len(top.raw)}
    if name:
        entry["annotations"] = {_REF_NAME: name}
        entries = [e for e in entries if e.get("annotations", {}).get(_REF_NAME) != name]
    entries.append(entry)
    _write_atomic(index_path, json.dumps({"schemaVersion": 2, "manifests": entries}).encode())
    return PullResult(digest=top.digest, media_type=top.media_type, blobs=len(wanted), bytes=sum(sizes))


def _read_blob(layout: Path, digest: str) -> bytes:
    try:
        data = _blob_path(layout, parse_digest(digest)).read_bytes()
    except (ValueError, OSError) as exc:
        raise LayoutError(f"OCI layout {layout}: cannot read blob {digest} ({exc})") from None
    if compute_digest(data, digest.split(":")[0]) != digest:
        raise LayoutError(f"OCI layout {layout}: blob {digest} does not match its digest")
    return data


async def push_layout(
    client: RegistryClient,
    layout: Path,
    repository: str,
    *,
    ref_name: str,
    tag: str | None = None,
    chunk_size: int | None = None,
) -> Digest:
    """Push the image named ``ref_name`` in ``layout`` to ``repository:tag`` (default: ``ref_name``).

    Raises:
        LayoutError: the layout is malformed or has no such image.
        RegistryError: the registry refused something.
    """
    layout = Path(layout)
    try:
        index = json.loads((layout / "index.json").read_text())
        top = next(m for m in index["manifests"] if m.get("annotations", {}).get(_REF_NAME) == ref_name)
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        raise LayoutError(f"OCI layout {layout} has no readable image named {ref_name!r}") from None
    semaphore = asyncio.Semaphore(max(1, client.options.concurrency))

    async def push_blob(desc: Descriptor) -> None:
        async with semaphore:
            await client.upload_blob(
                repository, _blob_path(layout, desc.digest), digest=desc.digest, chunk_size=chunk_size
            )

    async def push_manifest(digest: str, media_type: str, reference: str) -> Digest:
        raw = _read_blob(layout, digest)
        try:
            parsed = parse_manifest(raw, content_type=media_type)
        except ValueError as exc:
            raise LayoutError(f"OCI layout {layout}: manifest {digest}: {exc}") from None
        if isinstance(parsed, ImageIndex):
            for child in parsed.manifests:
                await push_manifest(child.digest, child.media_type, child.digest)
        else:
            await asyncio.gather(*(push_blob(d) for d in (parsed.config, *parsed.layers)))
        return await client.put_manifest(repository, reference, raw, media_type=media_type)

    return await push_manifest(str(top["digest"]), str(top["mediaType"]), tag or ref_name)
