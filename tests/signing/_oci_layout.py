"""Read the Notation e2e OCI image layouts (``index.json`` + ``blobs/sha256``) of the test vectors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

NOTATION_ARTIFACT = "application/vnd.cncf.notary.signature"


@dataclass(frozen=True)
class LayoutSignature:
    """The image tagged ``tag`` in a layout, and the one Notation signature referring to it."""

    image_digest: str
    manifest_digest: str
    media_type: str
    envelope: bytes


def _blob(layout: Path, digest: str) -> bytes:
    algorithm, _, hexdigest = digest.partition(":")
    return (layout / "blobs" / algorithm / hexdigest).read_bytes()


def read_layout_signature(layout: Path, *, tag: str = "v1") -> LayoutSignature:
    """The tagged image's digest and its signature manifest's single layer (envelope and media type)."""
    index = json.loads((layout / "index.json").read_text())
    tagged = [
        m["digest"]
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    ]
    assert len(tagged) == 1, f"{layout}: tag {tag} names {len(tagged)} manifests"
    image = tagged[0]
    found = []
    for descriptor in index["manifests"]:
        manifest = json.loads(_blob(layout, descriptor["digest"]))
        kinds = (manifest.get("artifactType"), manifest.get("config", {}).get("mediaType"))
        is_notation = NOTATION_ARTIFACT in kinds
        if is_notation and manifest.get("subject", {}).get("digest") == image:
            found.append((descriptor["digest"], manifest))
    assert len(found) == 1, f"{layout}: {len(found)} Notation signatures refer to {image}"
    digest, manifest = found[0]
    (layer,) = manifest["layers"]
    return LayoutSignature(
        image_digest=image,
        manifest_digest=digest,
        media_type=layer["mediaType"],
        envelope=_blob(layout, layer["digest"]),
    )
