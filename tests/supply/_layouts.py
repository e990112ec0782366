"""Writing OCI layouts and docker-archive tarballs by hand (the formats are small and specified)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def _put(layout: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / digest.split(":")[1]).write_bytes(data)
    return digest


def add_image(
    layout: Path, layers: list[bytes], *, arch: str = "amd64", os_name: str = "linux"
) -> dict[str, Any]:
    """Store an image's blobs; return its manifest descriptor (not yet in index.json)."""
    config = {
        "architecture": arch,
        "os": os_name,
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "0" * 64] * len(layers)},
    }
    config_bytes = json.dumps(config).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _put(layout, config_bytes),
            "size": len(config_bytes),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _put(layout, blob),
                "size": len(blob),
            }
            for blob in layers
        ],
    }
    data = json.dumps(manifest).encode()
    return {"mediaType": MANIFEST, "digest": _put(layout, data), "size": len(data)}


def add_index(layout: Path, manifests: list[tuple[dict[str, Any], str, str]]) -> dict[str, Any]:
    """Store a multi-platform index over (descriptor, os, arch); return its descriptor."""
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [dict(d, platform={"os": o, "architecture": a}) for d, o, a in manifests],
    }
    data = json.dumps(index).encode()
    return {"mediaType": INDEX, "digest": _put(layout, data), "size": len(data)}


def write_index(layout: Path, descriptors: list[dict[str, Any]], tags: list[str | None]) -> None:
    manifests = []
    for desc, tag in zip(descriptors, tags, strict=True):
        manifests.append(dict(desc, annotations={"org.opencontainers.image.ref.name": tag}) if tag else desc)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))


def docker_archive(path: Path, layers: list[bytes], *, tags: list[str]) -> None:
    """A `docker save` style tarball: manifest.json, a config, and layer.tar files."""
    diff_ids = ["sha256:" + hashlib.sha256(layer).hexdigest() for layer in layers]
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    names = [f"{d.split(':')[1]}/layer.tar" for d in diff_ids]
    manifest = json.dumps([{"Config": config_name, "RepoTags": tags, "Layers": names}]).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in [
            (config_name, config),
            ("manifest.json", manifest),
            *zip(names, layers, strict=True),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
