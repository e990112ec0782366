"""Every container image named in deployment content.

Works on already-parsed documents (plain dicts, lists and scalars), so it is
pure: :mod:`harbourmaster.enforce.content` does the YAML.

Kubernetes: the pod template of each workload kind is read at its known
place; ``List`` objects (``kind: List`` or any kind ending in ``List`` with
``items``) are walked recursively.  A kind this module does not know (an Argo
``Rollout``, an OpenShift ``DeploymentConfig``, a Knative ``Service``) is
searched for container lists anywhere inside it, so a custom workload does not
slip through unchecked; kinds with no container lists (``Service``,
``ConfigMap``) yield nothing.  That search is lenient (only mappings with a
string ``image`` count), since a custom kind's ``containers`` may mean
something else; the known kinds are checked strictly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from harbourmaster.errors import BadInput

__all__ = [
    "CONTAINER_FIELDS",
    "POD_SPEC_PATHS",
    "ComposeImages",
    "WorkloadError",
    "WorkloadImage",
    "images_from_compose",
    "images_from_kubernetes",
]

#: The pod-spec fields that hold containers, in the order they are reported.
CONTAINER_FIELDS: tuple[str, ...] = ("initContainers", "containers", "ephemeralContainers")

#: Where each known workload kind keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}

# Bounds the search inside unknown kinds; a pod spec is never this deep.
_MAX_SEARCH_DEPTH = 64


class WorkloadError(BadInput):
    """Deployment content names a container image in a way that cannot be checked."""

    kind = "invalid-workload"


@dataclass(frozen=True, slots=True)
class WorkloadImage:
    """One image named by deployment content, and exactly where.

    ``document`` is the 0-based index in a multi-document stream;
    ``field_path`` is relative to that document
    (``spec.template.spec.initContainers[0].image``).
    """

    image: str
    kind: str
    name: str
    namespace: str | None
    container: str
    field_path: str
    document: int

    @property
    def source(self) -> str:
        """For humans: ``Deployment/web container app (document 1)``; documents count from 1 here."""
        where = f" in namespace {self.namespace}" if self.namespace else ""
        owner = f"{self.kind}/{self.name}{where}"
        return f"{owner} container {self.container} (document {self.document + 1})"


@dataclass(frozen=True, slots=True)
class ComposeImages:
    """The images of a compose file, and the services that only build theirs."""

    images: list[WorkloadImage] = field(default_factory=list)
    build_only: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Owner:
    document: int
    kind: str
    name: str
    namespace: str | None

    def describe(self) -> str:
        return f"document {self.document + 1} ({self.kind}/{self.name or '<unnamed>'})"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _owner(document: int, obj: Mapping[str, object]) -> _Owner:
    metadata = obj.get("metadata")
    meta: Mapping[str, object] = metadata if isinstance(metadata, Mapping) else {}
    name = _text(meta.get("name")) or _text(meta.get("generateName")) or ""
    return _Owner(
        document=document,
        kind=_text(obj.get("kind")) or "",
        name=name,
        namespace=_text(meta.get("namespace")),
    )


def _containers(
    owner: _Owner, pod_spec: Mapping[str, object], prefix: str, *, strict: bool = True
) -> Iterator[WorkloadImage]:
    """The images of a pod spec's containers.

    ``strict`` is off when searching an unknown kind, whose ``containers`` field
    may mean something else: there only mappings with a string ``image`` count.
    """
    for list_field in CONTAINER_FIELDS:
        if list_field not in pod_spec or pod_spec[list_field] is None:
            continue
        containers = pod_spec[list_field]
        list_path = f"{prefix}.{list_field}" if prefix else list_field
        if not isinstance(containers, list):
            if not strict:
                continue
            raise WorkloadError(f"{owner.describe()}: {list_path} must be a list of containers")
        for index, container in enumerate(containers):
            path = f"{list_path}[{index}]"
            countable = isinstance(container, Mapping) and isinstance(container.get("image"), str)
            if not strict and not countable:
                continue
            if not isinstance(container, Mapping):
                raise WorkloadError(f"{owner.describe()}: {path} must be a container (a mapping)")
            container_name = _text(container.get("name")) or f"#{index}"
            image = container.get("image")
            if image is None:
                raise WorkloadError(f"{owner.describe()}: {path} (container {container_name}) has no image")
            if not isinstance(image, str):
                raise WorkloadError(
                    f"{owner.describe()}: {path}.image (container {container_name}) must be a string, "
                    f"not {type(image).__name__}"
                )
            yield WorkloadImage(
                image=image,
                kind=owner.kind,
                name=owner.name,
                namespace=owner.namespace,
                container=container_name,
                field_path=f"{path}.image",
                document=owner.document,
            )


def _known_kind(
    owner: _Owner, obj: Mapping[str, object], path: tuple[str, ...], prefix: str
) -> Iterator[WorkloadImage]:
    node: object = obj
    walked = prefix
    for step in path:
        if not isinstance(node, Mapping):
            raise WorkloadError(f"{owner.describe()}: {walked} must be a mapping")
        node = node.get(step)
        walked = f"{walked}.{step}" if walked else step
        if node is None:
            return
    if not isinstance(node, Mapping):
        raise WorkloadError(f"{owner.describe()}: {walked} must be a mapping (a pod spec)")
    yield from _containers(owner, node, walked)


def _search(owner: _Owner, node: object, path: str, depth: int) -> Iterator[WorkloadImage]:
    """Find container lists anywhere under ``node`` (for kinds without a known pod-spec place)."""
    if depth > _MAX_SEARCH_DEPTH:
        raise WorkloadError(f"{owner.describe()}: {path} is nested too deeply to search for containers")
    if isinstance(node, Mapping):
        if any(isinstance(node.get(f), list) for f in CONTAINER_FIELDS):
            yield from _containers(owner, node, path, strict=False)
        for key, value in node.items():
            if key in CONTAINER_FIELDS or not isinstance(value, Mapping | list):
                continue
            yield from _search(owner, value, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            if isinstance(item, Mapping | list):
                yield from _search(owner, item, f"{path}[{index}]", depth + 1)


def _object(document: int, obj: object, prefix: str, depth: int) -> Iterator[WorkloadImage]:
    where = f"document {document + 1}" + (f" at {prefix}" if prefix else "")
    if not isinstance(obj, Mapping):
        raise WorkloadError(f"{where}: a Kubernetes object must be a mapping, not {type(obj).__name__}")
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        raise WorkloadError(f"{where}: the object has no kind")
    owner = _owner(document, obj)
    dot = "." if prefix else ""
    if kind.endswith("List") and "items" in obj:
        items = obj.get("items")
        if items is None:
            return
        if not isinstance(items, list):
            raise WorkloadError(f"{owner.describe()}: {prefix}{dot}items must be a list")
        if depth >= _MAX_SEARCH_DEPTH:
            raise WorkloadError(f"{owner.describe()}: Lists are nested too deeply")
        for index, item in enumerate(items):
            yield from _object(document, item, f"{prefix}{dot}items[{index}]", depth + 1)
        return
    path = POD_SPEC_PATHS.get(kind)
    if path is not None:
        yield from _known_kind(owner, obj, path, prefix)
    else:
        yield from _search(owner, obj, prefix, depth)


def images_from_kubernetes(documents: Sequence[object]) -> list[WorkloadImage]:
    """Every image in a stream of Kubernetes objects, in document and container order.

    ``None`` documents (empty YAML documents) are skipped.  Within a pod spec,
    init containers come first, then containers, then ephemeral containers.

    Raises:
        WorkloadError: a document is not a mapping or has no ``kind``; a
            container list, container or pod spec has the wrong type; or a
            container has no image or a non-string image.  The message names
            the document (counted from 1), the object's kind/name and the
            field path.
    """
    images: list[WorkloadImage] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        images.extend(_object(index, document, "", 0))
    return images


def images_from_compose(document: Mapping[str, object]) -> ComposeImages:
    """The images of a compose file's services, and the services that only have ``build``.

    A service with both ``build`` and ``image`` is reported as an image (the
    build is tagged with that name).  Each image's ``container`` is the
    service's ``container_name`` when set, else the service name.

    Raises:
        WorkloadError: ``services`` is missing or not a mapping, a service is
            not a mapping, a service has neither ``image`` nor ``build``, or an
            image is not a string.  The message names the service.
    """
    services = document.get("services")
    if not isinstance(services, Mapping):
        raise WorkloadError("compose file: 'services' must be a mapping of service names to services")
    result = ComposeImages()
    for raw_name, service in services.items():
        name = str(raw_name)
        if not isinstance(service, Mapping):
            raise WorkloadError(f"compose service {name!r}: services.{name} must be a mapping")
        image = service.get("image")
        if image is None:
            if service.get("build") is None:
                raise WorkloadError(f"compose service {name!r}: it has neither 'image' nor 'build'")
            result.build_only.append(name)
            continue
        if not isinstance(image, str):
            raise WorkloadError(
                f"compose service {name!r}: services.{name}.image must be a string, "
                f"not {type(image).__name__}"
            )
        result.images.append(
            WorkloadImage(
                image=image,
                kind="service",
                name=name,
                namespace=None,
                container=_text(service.get("container_name")) or name,
                field_path=f"services.{name}.image",
                document=0,
            )
        )
    return result
