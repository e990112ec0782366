"""A ``docker save`` tarball (``docker-archive:FILE[:REF]``) as an :class:`ImageSource`."""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path
from typing import BinaryIO

from harbourmaster.supply.sbom.interface import ImageInfo, SourceError
from harbourmaster.supply.sbom.layers import Compression, detect_compression
from harbourmaster.supply.sbom.sources._json import json_object, parse_json, platform_of
from harbourmaster.supply.sbom.sources.interface import ImageSource, LayerDescriptor

__all__ = ["DockerArchiveSource"]


class DockerArchiveSource(ImageSource):
    """Reads the image in a docker-archive tarball (manifest.json, config, layer tars).

    Layers are named by their ``diff_id`` from the config (the digest of the
    uncompressed layer tar).  Raises :class:`SourceError` when the file is not
    a docker archive, names a missing member, or holds several images and
    ``ref`` does not pick one.
    """

    def __init__(self, path: str | os.PathLike[str], *, ref: str = "") -> None:
        self._path = Path(path)
        try:
            self._tar = tarfile.open(self._path, mode="r:*")  # noqa: SIM115 - closed by close()
            self._members = {m.name.removeprefix("./"): m for m in self._tar.getmembers()}
        except (OSError, tarfile.TarError, EOFError) as exc:
            raise SourceError(f"{self._path} is not a readable docker-archive tarball ({exc})") from exc
        try:
            self._load(ref)
        except BaseException:
            self._tar.close()
            raise

    def _load(self, ref: str) -> None:
        entries = parse_json(self._read("manifest.json"), where=f"{self._path}!manifest.json")
        if not isinstance(entries, list) or not entries:
            raise SourceError(f"{self._path}!manifest.json holds no images")
        images = [json_object(e, where=f"{self._path}!manifest.json entry") for e in entries]
        if ref:
            images = [e for e in images if ref in (e.get("RepoTags") or [])]
            if not images:
                raise SourceError(f"{self._path} has no image tagged {ref!r}",
                                  details=[", ".join(e.get("RepoTags") or ["(untagged)"]) for e in entries])
        if len(images) > 1:
            raise SourceError(f"{self._path} holds {len(images)} images; name one as docker-archive:FILE:REF",
                              details=[", ".join(e.get("RepoTags") or ["(untagged)"]) for e in images])
        entry = images[0]
        config_name = str(entry.get("Config", ""))
        config_bytes = self._read(config_name)
        config = json_object(parse_json(config_bytes, where=f"{self._path}!{config_name}"),
                             where="image config")
        self._platform = platform_of(config)
        self._image_id = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        layer_names = entry.get("Layers") or []
        if not isinstance(layer_names, list) or (diff_ids and len(diff_ids) != len(layer_names)):
            raise SourceError(f"{self._path}: manifest lists {len(layer_names)} layers, "
                              f"config lists {len(diff_ids)} diff_ids")
        layers = []
        self._layer_members: list[tarfile.TarInfo] = []
        for i, name in enumerate(layer_names):
            member = self._member(str(name))
            self._layer_members.append(member)
            digest = str(diff_ids[i]) if diff_ids else f"{self._path.name}!{name}"
            # diff_ids hash the uncompressed tar; only check them when the member is uncompressed
            raw = self._open(member)
            head = raw.read(4)
            raw.close()
            layers.append(LayerDescriptor(digest=digest, size=member.size, media_type="",
                                          stream_digest=bool(diff_ids)
                                          and detect_compression(head) is Compression.NONE))
        self._layers = tuple(layers)
        tags = entry.get("RepoTags") or []
        self._name = str(tags[0]) if tags else self._path.name

    def image(self) -> ImageInfo:
        return ImageInfo(name=self._name, digest=self._image_id, platform=self._platform,
                         layer_digests=tuple(x.digest for x in self._layers))

    def layers(self) -> tuple[LayerDescriptor, ...]:
        return self._layers

    def open_layer(self, layer: LayerDescriptor) -> BinaryIO:
        return self._open(self._layer_members[self._layers.index(layer)])

    def close(self) -> None:
        self._tar.close()

    def _member(self, name: str) -> tarfile.TarInfo:
        member = self._members.get(name.removeprefix("./"))
        for _ in range(40):  # docker save links shared layers; bounded against loops
            if member is None or not member.issym():
                break
            target = os.path.normpath(os.path.join(os.path.dirname(member.name), member.linkname))
            member = self._members.get(target)
        if member is None or not member.isfile():
            raise SourceError(f"{self._path} has no member {name!r}")
        return member

    def _open(self, member: tarfile.TarInfo) -> BinaryIO:
        stream = self._tar.extractfile(member)
        if stream is None:
            raise SourceError(f"{self._path}: cannot read member {member.name!r}")
        return stream  # type: ignore[return-value]

    def _read(self, name: str) -> bytes:
        member = self._member(name)
        if member.size > 4 * 1024 * 1024:
            raise SourceError(f"{self._path}!{name} is too large for a JSON document")
        with self._open(member) as fh:
            return fh.read()
