"""Reading an ImageSet file and resolving it against the approved registries it names.

:func:`read_image_set` loads the YAML safely (size cap, alias-expansion budget, no duplicate keys)
and checks it with :func:`~harbourmaster.domain.imageset.parse_image_set`.  :func:`resolve_image_set`
turns each entry into the images it means now: a tag pinned to its digest, a digest checked present,
tag patterns and semver ranges matched against the repository's tag list.  Each image is in an
approved registry (harbourmaster contacts no other); problems are reported together, each with its
entry's document path (``images[3]: ...``), as ``apply`` does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import yaml

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.imageset import ImageSet, ImageSetEntry, ImageSetInvalid, parse_image_set
from harbourmaster.domain.model import Registry
from harbourmaster.domain.reference import ImageReference, ReferenceError, parse_reference
from harbourmaster.registry import NotFoundInRegistry, RegistryClient
from harbourmaster.registry.client import FetchedManifest
from harbourmaster.registry.media import DOCKER_CONFIG, OCI_CONFIG, ImageIndex
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_endpoints import endpoint_for, provider_for, run_sync
from harbourmaster.services.registry_scope import ImageNotInApprovedRegistry, approved_registry

__all__ = [
    "MAX_IMAGE_SET_BYTES",
    "ImageKind",
    "ResolvedImage",
    "image_kind",
    "read_image_set",
    "resolve_image_set",
]

MAX_IMAGE_SET_BYTES: Final = 1024 * 1024
#: YAML nodes walked with aliases expanded: a "billion laughs" document is refused, not expanded.
_MAX_NODES: Final = 200_000
#: Tags listed per selecting entry (tag patterns, semver ranges).
_MAX_TAGS: Final = 10_000

ImageKind = str  # "index" | "image" | "artifact"
_IMAGE_CONFIGS: Final = frozenset({OCI_CONFIG, DOCKER_CONFIG})


@dataclass(frozen=True, slots=True)
class ResolvedImage:
    """One image an ImageSet means now: where it is, the tags it carries, its digest and kind.

    ``repository`` is the path on the registry's host (``team/app``); ``name`` the full repository
    (``registry.example/team/app``); ``kind`` is ``index`` (multi-platform), ``image`` or ``artifact``
    (an OCI artifact such as a Helm chart, whose config is no image config).
    """

    path: str
    registry: str
    name: str
    repository: str
    tags: tuple[str, ...]
    digest: str
    media_type: str
    kind: ImageKind

    @property
    def reference(self) -> str:
        return f"{self.name}@{self.digest}"


def image_kind(fetched: FetchedManifest) -> ImageKind:
    """``index``, ``image`` or ``artifact`` (an artifact type, or a config that is no image config)."""
    parsed = fetched.parsed
    if isinstance(parsed, ImageIndex):
        return "index"
    if parsed.artifact_type or parsed.config.media_type not in _IMAGE_CONFIGS:
        return "artifact"
    return "image"


# -- reading ----------------------------------------------------------------------------------------


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML's safe loader (libyaml's when present)."""


def _check_nodes(root: yaml.Node, source: str) -> None:
    budget = _MAX_NODES
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        budget -= 1
        if budget < 0:
            raise ImageSetInvalid(f"{source}: more than {_MAX_NODES} YAML nodes once aliases are expanded")
        if isinstance(node, yaml.MappingNode):
            keys: set[object] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in keys:
                        line = key.start_mark.line + 1
                        raise ImageSetInvalid(f"{source}: line {line}: the key {key.value!r} is given twice")
                    keys.add(key.value)
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def read_image_set(text: str, *, source: str) -> ImageSet:
    """The ImageSet that YAML ``text`` (from ``source``, named in errors) describes.

    Raises:
        ImageSetInvalid: too large, not YAML, duplicate keys, alias bombs, or entries with problems
            (every one, by its document path).
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_IMAGE_SET_BYTES:
        raise ImageSetInvalid(f"{source}: larger than {MAX_IMAGE_SET_BYTES} bytes")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ImageSetInvalid(f"{source}: the file is empty")
        _check_nodes(node, source)
        document: Any = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ImageSetInvalid(f"{source}: invalid YAML{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ImageSetInvalid(f"{source}: invalid YAML: {exc}") from None
    except RecursionError:
        raise ImageSetInvalid(f"{source}: the YAML is nested too deeply") from None
    finally:
        loader.dispose()
    return parse_image_set(document, source=source)


# -- resolving --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Located:
    entry: ImageSetEntry
    ref: ImageReference
    registry: Registry


async def _resolve_entry(
    client: RegistryClient, item: _Located, problems: list[str]
) -> list[tuple[str, str, FetchedManifest]]:
    """(tag or "", digest, manifest) for each image the entry means."""
    entry, path = item.entry, item.ref.path
    where = f"{entry.path}: {entry.repository}"
    try:
        if entry.selects:
            tags = await client.tags(path, limit=_MAX_TAGS)
            chosen = entry.select(tags)
            if not chosen:
                what = f"semver {entry.semver.text}" if entry.semver else "tags " + ", ".join(entry.patterns)
                problems.append(f"{where}: no tag matches {what} (of {len(tags)} tags)")
                return []
            out = []
            for tag in chosen:
                fetched = await client.get_manifest(path, tag)
                out.append((tag, str(fetched.digest), fetched))
            return out
        fetched = await client.get_manifest(path, entry.digest or entry.tag or "latest")
        return [(entry.tag or "", str(fetched.digest), fetched)]
    except NotFoundInRegistry:
        problems.append(
            f"{where}: {entry.reference if not entry.selects else 'the repository'} is not in "
            f"registry {item.registry.name}"
        )
        return []


async def _resolve_registry(
    client: RegistryClient, items: list[_Located], problems: list[str]
) -> list[tuple[_Located, list[tuple[str, str, FetchedManifest]]]]:
    return [(item, await _resolve_entry(client, item, problems)) for item in items]


def _locate(hm: Harbourmaster, entries: Iterable[ImageSetEntry], problems: list[str]) -> list[_Located]:
    located = []
    for entry in entries:
        try:
            ref = parse_reference(entry.repository)
            registry = approved_registry(hm, ref)
        except (ReferenceError, ImageNotInApprovedRegistry) as exc:
            problems.append(f"{entry.path}: {exc.message}")
            continue
        located.append(_Located(entry, ref, registry))
    return located


def resolve_image_set(hm: Harbourmaster, principal: Principal, image_set: ImageSet) -> list[ResolvedImage]:
    """The images ``image_set`` means now, in document order; an image named by several entries is
    listed once, with every tag they give it.  Uses each registry's stored credential.

    Raises:
        Forbidden: ``principal`` may not use registry credentials.
        ImageSetInvalid: entries outside the approved registries, tags or digests not found, patterns
            matching no tag (every problem, by its document path).
        RegistryError: a registry failed (unreachable, refused, malformed answers).
    """
    require(principal, Permission.REGISTRY_PROBE)
    problems: list[str] = []
    located = _locate(hm, image_set.entries, problems)
    by_registry: dict[str, list[_Located]] = {}
    for item in located:
        by_registry.setdefault(item.registry.name, []).append(item)
    actor = principal.audit_name
    found: dict[int, list[tuple[str, str, FetchedManifest]]] = {}
    for items in by_registry.values():
        registry = items[0].registry
        endpoint, development_only = endpoint_for(hm, registry, actor=actor, purpose="mirror.resolve")
        provider = provider_for(hm, registry, actor=actor, purpose="mirror.resolve")

        async def run(items: list[_Located], endpoint: Any, provider: Any, development_only: bool) -> Any:
            async with hm.registry_clients.client(
                endpoint, provider=provider, development_only=development_only
            ) as client:
                return await _resolve_registry(client, items, problems)

        for item, images in run_sync(run(items, endpoint, provider, development_only)):
            found[id(item)] = images
    if problems:
        raise ImageSetInvalid(
            f"the image set cannot be resolved: {len(problems)} problem(s)", details=problems
        )
    merged: dict[tuple[str, str, str], ResolvedImage] = {}
    for item in located:
        for tag, digest, fetched in found.get(id(item), []):
            key = (item.registry.name, item.ref.path, digest)
            known = merged.get(key)
            if known is not None:
                if tag and tag not in known.tags:
                    merged[key] = _with_tag(known, tag)
                continue
            merged[key] = ResolvedImage(
                path=item.entry.path,
                registry=item.registry.name,
                name=item.ref.repository,
                repository=item.ref.path,
                tags=(tag,) if tag else (),
                digest=digest,
                media_type=fetched.media_type,
                kind=image_kind(fetched),
            )
    return list(merged.values())


def _with_tag(image: ResolvedImage, tag: str) -> ResolvedImage:
    return ResolvedImage(
        path=image.path,
        registry=image.registry,
        name=image.name,
        repository=image.repository,
        tags=(*image.tags, tag),
        digest=image.digest,
        media_type=image.media_type,
        kind=image.kind,
    )
