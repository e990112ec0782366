"""An OCI image layout directory (``oci-layout:DIR[:TAG]``) as an :class:`ImageSource`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

from harbourmaster.domain.platform import DEFAULT_PLATFORM, Platform, PlatformError
from harbourmaster.supply.sbom.interface import ImageInfo, SourceError
from harbourmaster.supply.sbom.sources._json import (
    check_digest,
    json_object,
    parse_json,
    platform_of,
    verify_digest,
)
from harbourmaster.supply.sbom.sources.interface import ImageSource, LayerDescriptor

__all__ = ["OciLayoutSource"]

REF_NAME = "org.opencontainers.image.ref.name"
INDEX_TYPES = {"application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json"}


def _describe(desc: dict[str, Any]) -> str:
    ref = (desc.get("annotations") or {}).get(REF_NAME)
    plat = desc.get("platform") or {}
    where = "/".join(str(plat[k]) for k in ("os", "architecture", "variant") if plat.get(k))
    return " ".join(x for x in (str(ref) if ref else "", str(desc.get("digest", "?")),
                                f"({where})" if where else "") if x)


class OciLayoutSource(ImageSource):
    """Reads an OCI image layout; selects the image by ``tag`` and, in an index, by ``platform``.

    Raises :class:`SourceError` when the layout is missing or malformed, when
    the tag is absent, when several images match and none is named, or when no
    manifest fits the platform.
    """

    def __init__(self, directory: str | os.PathLike[str], *, tag: str = "",
                 platform: Platform | None = None) -> None:
        self._dir = Path(directory)
        self._want = platform or DEFAULT_PLATFORM
        if not (self._dir / "oci-layout").is_file() or not (self._dir / "index.json").is_file():
            raise SourceError(f"{self._dir} is not an OCI image layout (no oci-layout or index.json file)")
        index_where = f"{self._dir}/index.json"
        index = json_object(parse_json(self._read_file(self._dir / "index.json"), where=index_where),
                            where=index_where)
        chosen = self._choose(index, tag)
        manifest_desc = self._resolve_index(chosen)
        self._manifest_digest = check_digest(manifest_desc.get("digest"), where="manifest descriptor")
        manifest = json_object(self._blob_json(self._manifest_digest),
                               where=f"manifest {self._manifest_digest}")
        config_desc = json_object(manifest.get("config"), where=f"manifest {self._manifest_digest} config")
        config = json_object(self._blob_json(check_digest(config_desc.get("digest"), where="config")),
                             where="image config")
        self._platform = platform_of(config)
        layers = manifest.get("layers") or []
        if not isinstance(layers, list):
            raise SourceError(f"manifest {self._manifest_digest}: 'layers' is not a list")
        self._layers = tuple(
            LayerDescriptor(digest=check_digest(d.get("digest"), where=f"layer {i}"),
                            size=int(d.get("size", -1)), media_type=str(d.get("mediaType", "")))
            for i, d in enumerate(json_object(x, where="layer descriptor") for x in layers))
        ref = (chosen.get("annotations") or {}).get(REF_NAME) or tag
        base = self._dir.resolve().name
        image_name = (chosen.get("annotations") or {}).get("io.containerd.image.name")
        self._name = str(image_name or (f"{base}:{ref}" if ref else base))

    def image(self) -> ImageInfo:
        return ImageInfo(name=self._name, digest=self._manifest_digest, platform=self._platform,
                         layer_digests=tuple(x.digest for x in self._layers))

    def layers(self) -> tuple[LayerDescriptor, ...]:
        return self._layers

    def open_layer(self, layer: LayerDescriptor) -> BinaryIO:
        path = self._blob_path(layer.digest)
        if path.exists() and not path.is_file():  # a FIFO or device would block or never end
            raise SourceError(f"layer {layer.digest}: blob {path} is not a regular file")
        try:
            return path.open("rb")
        except OSError as exc:
            raise SourceError(f"layer {layer.digest}: cannot open blob {path} ({exc.strerror})") from exc

    # -- selection -------------------------------------------------------------------------
    def _choose(self, index: dict[str, Any], tag: str) -> dict[str, Any]:
        manifests = [json_object(m, where="index.json manifest") for m in index.get("manifests") or []]
        if not manifests:
            raise SourceError(f"{self._dir}/index.json holds no images")
        if tag:
            matching = [m for m in manifests if (m.get("annotations") or {}).get(REF_NAME) == tag]
            if not matching:
                raise SourceError(f"{self._dir} has no image tagged {tag!r}",
                                  details=[_describe(m) for m in manifests])
            manifests = matching
        if len(manifests) == 1:
            return manifests[0]
        if all(m.get("platform") for m in manifests):  # a flattened multi-platform index
            return self._by_platform(manifests, where=f"{self._dir}/index.json")
        raise SourceError(f"{self._dir} holds {len(manifests)} images; name one as oci-layout:DIR:TAG",
                          details=[_describe(m) for m in manifests])

    def _resolve_index(self, desc: dict[str, Any], depth: int = 0) -> dict[str, Any]:
        if desc.get("mediaType") not in INDEX_TYPES:
            return desc
        if depth > 2:
            raise SourceError(f"{self._dir}: image indexes nested too deeply")
        digest = check_digest(desc.get("digest"), where="index descriptor")
        nested = json_object(self._blob_json(digest), where=f"index {digest}")
        manifests = [json_object(m, where=f"index {digest} manifest") for m in nested.get("manifests") or []]
        return self._resolve_index(self._by_platform(manifests, where=f"index {digest}"), depth + 1)

    def _by_platform(self, manifests: list[dict[str, Any]], *, where: str) -> dict[str, Any]:
        want = self._want
        for m in manifests:
            plat = m.get("platform")
            try:
                have = Platform.from_oci(plat, where=where) if isinstance(plat, dict) else None
            except PlatformError:
                continue  # an entry with a malformed platform is no candidate
            if have is not None and want.matches(have):
                return m
        raise SourceError(f"{where} has no image for platform {want}; choose one with --platform",
                          details=[_describe(m) for m in manifests])

    # -- blobs -----------------------------------------------------------------------------
    def _blob_path(self, digest: str) -> Path:
        algo, _, hexpart = check_digest(digest, where="blob").partition(":")
        return self._dir / "blobs" / algo / hexpart

    def _read_file(self, path: Path) -> bytes:
        if path.exists() and not path.is_file():
            raise SourceError(f"{path} is not a regular file")
        try:
            with path.open("rb") as fh:
                return fh.read(4 * 1024 * 1024 + 1)
        except OSError as exc:
            raise SourceError(f"cannot read {path} ({exc.strerror})") from exc

    def _blob_json(self, digest: str) -> Any:
        data = self._read_file(self._blob_path(digest))
        verify_digest(data, digest, where=f"{self._dir} blob {digest}")
        return parse_json(data, where=f"{self._dir} blob {digest}")
