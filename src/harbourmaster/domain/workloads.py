"""Every container image named in Kubernetes content, failing closed.

Works on already-parsed documents (plain dicts, lists and scalars), so it is
pure: :mod:`harbourmaster.enforce.content` does the YAML.  Compose files are
read by :mod:`harbourmaster.domain.compose`.

Each object is identified by ``apiVersion`` *and* ``kind``
(:mod:`harbourmaster.domain.kinds`), then read one of three ways:

* **Built-in workloads** (``apps`` Deployment, ``batch`` Job, core Pod ...) are
  read strictly at their pod spec: init containers, containers, ephemeral
  containers, then image volumes (``volumes[].image.reference``).  A container
  without a string image is an error.
* **Built-in kinds that run nothing** (core Service, ConfigMap, Secret; RBAC;
  CustomResourceDefinition ...) yield nothing, whatever keys they hold.
* **Anything else** — a custom resource, including one reusing a built-in kind
  name under another group (``batch.volcano.sh`` Job), or a built-in kind under
  a group it does not belong to — is read by the *fallback*: every string under
  a key named ``image`` anywhere in the object is an image, and so is
  ``reference`` under ``volumes[].image``.  These images are reported with
  ``extraction="fallback"``.  In the fallback:

  - an ``image`` that is not a string (nor null) inside a *container-like*
    mapping (one with a string ``name``) is an error, as in a known kind;
  - any other non-string ``image`` (``{repository: ..., tag: ...}``, a
    number) names an image in a form that cannot be read: unless a string
    ``image`` is found inside it, the object is **not understood** at that path;
  - when no image at all is found, yet the object has *pod-like structure*,
    it is **not understood** at the first such path.  Pod-like structure is a
    key in :data:`POD_LIKE_KEYS`, at any depth, whose value is a non-empty
    list or mapping (or, for ``script``, a non-blank string).

  A not-understood object is reported as a :class:`NotUnderstood`, which the
  decision layer denies; listing its kind in the governance document's
  ``content.ignore_kinds`` suppresses that denial (never the images found).

``List`` objects (``kind: List`` or any kind ending in ``List`` with
``items``) are walked recursively; keys of a List besides ``items`` are read
by the fallback too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from harbourmaster.domain.kinds import KindSelector, is_no_image_kind, workload_pod_spec_path
from harbourmaster.errors import BadInput

__all__ = [
    "CONTAINER_FIELDS",
    "POD_LIKE_KEYS",
    "Extraction",
    "KubernetesImages",
    "NotUnderstood",
    "WorkloadError",
    "WorkloadImage",
    "images_from_kubernetes",
    "unresolved_placeholder",
]

#: The pod-spec fields that hold containers, in the order they are reported.
CONTAINER_FIELDS: tuple[str, ...] = ("initContainers", "containers", "ephemeralContainers")

#: Keys that mark pod-like structure in an object the fallback reads (see the module documentation).
POD_LIKE_KEYS: frozenset[str] = frozenset(
    {
        *CONTAINER_FIELDS,
        "sidecars",
        "steps",
        "stepTemplate",
        "container",
        "containerSet",
        "script",
        "podSpec",
        "podTemplate",
        "podTemplateSpec",
        "taskSpec",
        "pipelineSpec",
        "jobTemplate",
    }
)

#: How an image was found: at a known kind's pod spec (or a compose service), or by the fallback.
Extraction = Literal["known", "fallback"]

# Bounds the fallback's walk; a pod spec is never this deep.
_MAX_SEARCH_DEPTH = 64

# ${VAR}, $VAR, $(params.x) (Tekton, Kubernetes env), {{inputs.parameters.x}} (Argo, Helm), or a bare $.
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}?|\$\([^)]*\)?|\$[A-Za-z_][A-Za-z0-9_]*|\{\{.*?(\}\}|$)|\$")


class WorkloadError(BadInput):
    """Deployment content names a container image in a way that cannot be checked."""

    kind = "invalid-workload"


def unresolved_placeholder(image: str) -> str | None:
    """The first variable placeholder in ``image`` (``${TAG}``, ``$(params.image)``, ``{{x}}``), if any.

    Such an image is only known once something (compose, a pipeline
    controller, a template engine) fills it in, so it cannot be decided.
    """
    match = _PLACEHOLDER.search(image)
    return match.group(0) if match else None


@dataclass(frozen=True, slots=True)
class WorkloadImage:
    """One image named by deployment content, and exactly where.

    ``document`` is the 0-based index in a multi-document stream;
    ``field_path`` is relative to that document
    (``spec.template.spec.initContainers[0].image``).  ``holder`` is
    ``container`` or ``volume`` (an image volume).  ``file`` is set for images
    found in another file than the one checked (a compose ``include`` or
    ``extends.file``).
    """

    image: str
    kind: str
    name: str
    namespace: str | None
    container: str
    field_path: str
    document: int
    extraction: Extraction = "known"
    api_version: str = ""
    holder: str = "container"
    file: str | None = None

    @property
    def source(self) -> str:
        """For humans: ``Deployment/web container app (document 1)``; documents count from 1 here.

        Images the fallback found also carry their ``apiVersion``, since their
        kind name may be a built-in's.
        """
        kind = f"{self.api_version} {self.kind}" if self.extraction == "fallback" else self.kind
        where = f" in namespace {self.namespace}" if self.namespace else ""
        document = f"document {self.document + 1}" + (f" of {self.file}" if self.file else "")
        return f"{kind.strip()}/{self.name}{where} {self.holder} {self.container} ({document})"


@dataclass(frozen=True, slots=True)
class NotUnderstood:
    """An object that may run containers, but whose images could not be read: it is denied."""

    document: int
    api_version: str
    kind: str
    name: str
    namespace: str | None
    field_path: str
    problem: str

    @property
    def source(self) -> str:
        where = f" in namespace {self.namespace}" if self.namespace else ""
        api = self.api_version or "(no apiVersion)"
        return f"{api} {self.kind}/{self.name or '<unnamed>'}{where} (document {self.document + 1})"

    @property
    def reason(self) -> str:
        return (
            f"{self.source}: {self.field_path} {self.problem}; harbourmaster does not understand "
            f"this object, so it is denied (to accept such objects without their images being "
            f"checked, list {{apiVersion: {self.api_version or '...'}, kind: {self.kind}}} under "
            "content.ignore_kinds in the governance document)"
        )


@dataclass(frozen=True, slots=True)
class KubernetesImages:
    """The images found in Kubernetes objects, and the objects that could not be understood."""

    images: list[WorkloadImage] = field(default_factory=list)
    not_understood: list[NotUnderstood] = field(default_factory=list)


_POD_LIKE_PROBLEM = "looks like a pod or container definition, but no image was found anywhere in the object"


@dataclass(frozen=True, slots=True)
class _Owner:
    document: int
    api_version: str
    kind: str
    name: str
    namespace: str | None

    def describe(self) -> str:
        return f"document {self.document + 1} ({self.kind}/{self.name or '<unnamed>'})"

    def image(
        self, image: str, container: str, path: str, extraction: Extraction, holder: str = "container"
    ) -> WorkloadImage:
        return WorkloadImage(
            image=image,
            kind=self.kind,
            name=self.name,
            namespace=self.namespace,
            container=container,
            field_path=path,
            document=self.document,
            extraction=extraction,
            api_version=self.api_version,
            holder=holder,
        )

    def not_understood(self, path: str, problem: str) -> NotUnderstood:
        return NotUnderstood(
            document=self.document,
            api_version=self.api_version,
            kind=self.kind,
            name=self.name,
            namespace=self.namespace,
            field_path=path or "(the object)",
            problem=problem,
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _owner(document: int, obj: Mapping[str, object]) -> _Owner:
    metadata = obj.get("metadata")
    meta: Mapping[str, object] = metadata if isinstance(metadata, Mapping) else {}
    name = _text(meta.get("name")) or _text(meta.get("generateName")) or ""
    return _Owner(
        document=document,
        api_version=_text(obj.get("apiVersion")) or "",
        kind=_text(obj.get("kind")) or "",
        name=name,
        namespace=_text(meta.get("namespace")),
    )


def _image_volume(
    owner: _Owner, volume: Mapping[object, object], path: str, extraction: Extraction
) -> WorkloadImage:
    """The image of an image volume (``volumes[i].image.reference``, Kubernetes 1.31+)."""
    name = _text(volume.get("name")) or path.rsplit("[", 1)[-1].rstrip("]")
    source = volume.get("image")
    if not isinstance(source, Mapping):
        raise WorkloadError(
            f"{owner.describe()}: {path}.image (volume {name}) must be a mapping with reference, "
            f"not {type(source).__name__}"
        )
    reference = source.get("reference")
    if reference is None:
        raise WorkloadError(f"{owner.describe()}: {path}.image (volume {name}) has no reference")
    if not isinstance(reference, str):
        raise WorkloadError(
            f"{owner.describe()}: {path}.image.reference (volume {name}) must be a string, "
            f"not {type(reference).__name__}"
        )
    return owner.image(reference, name, f"{path}.image.reference", extraction, holder="volume")


def _pod_spec(owner: _Owner, pod_spec: Mapping[str, object], prefix: str) -> Iterator[WorkloadImage]:
    """The images of a known kind's pod spec: its containers, then its image volumes."""
    for list_field in CONTAINER_FIELDS:
        if pod_spec.get(list_field) is None:
            continue
        containers = pod_spec[list_field]
        list_path = _join(prefix, list_field)
        if not isinstance(containers, list):
            raise WorkloadError(f"{owner.describe()}: {list_path} must be a list of containers")
        for index, container in enumerate(containers):
            path = f"{list_path}[{index}]"
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
            yield owner.image(image, container_name, f"{path}.image", "known")
    volumes = pod_spec.get("volumes")
    if volumes is None:
        return
    volumes_path = _join(prefix, "volumes")
    if not isinstance(volumes, list):
        raise WorkloadError(f"{owner.describe()}: {volumes_path} must be a list of volumes")
    for index, volume in enumerate(volumes):
        path = f"{volumes_path}[{index}]"
        if not isinstance(volume, Mapping):
            raise WorkloadError(f"{owner.describe()}: {path} must be a volume (a mapping)")
        if volume.get("image") is not None:
            yield _image_volume(owner, volume, path, "known")


def _known_kind(
    owner: _Owner, obj: Mapping[str, object], path: tuple[str, ...], prefix: str
) -> Iterator[WorkloadImage]:
    node: object = obj
    walked = prefix
    for step in path:
        if not isinstance(node, Mapping):
            raise WorkloadError(f"{owner.describe()}: {walked} must be a mapping")
        node = node.get(step)
        walked = _join(walked, step)
        if node is None:
            return
    if not isinstance(node, Mapping):
        raise WorkloadError(f"{owner.describe()}: {walked} must be a mapping (a pod spec)")
    yield from _pod_spec(owner, node, walked)


def _pod_like(key: str, value: object) -> bool:
    if key not in POD_LIKE_KEYS:
        return False
    if isinstance(value, Mapping | list):
        return len(value) > 0
    return key == "script" and isinstance(value, str) and bool(value.strip())


class _Fallback:
    """The fallback reading of one object (see the module documentation)."""

    def __init__(self, owner: _Owner) -> None:
        self.owner = owner
        self.images: list[WorkloadImage] = []
        self.unreadable: list[tuple[str, str]] = []
        self.pod_like: str | None = None

    def walk(self, node: object, path: str, depth: int, *, volume: bool = False) -> None:
        if depth > _MAX_SEARCH_DEPTH:
            raise WorkloadError(
                f"{self.owner.describe()}: {path} is nested too deeply to search for containers"
            )
        if isinstance(node, Mapping):
            self._mapping(node, path, depth, volume=volume)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, Mapping | list):
                    self.walk(item, f"{path}[{index}]", depth + 1, volume=volume)

    def _mapping(self, node: Mapping[object, object], path: str, depth: int, *, volume: bool) -> None:
        for raw_key, value in node.items():
            key = str(raw_key)
            child = _join(path, key)
            if key == "image":
                self._image(node, value, path, depth, volume=volume)
                continue
            if self.pod_like is None and _pod_like(key, value):
                self.pod_like = child
            if isinstance(value, Mapping | list):
                self.walk(value, child, depth + 1, volume=key == "volumes" and isinstance(value, list))

    def _image(
        self, holder: Mapping[object, object], value: object, holder_path: str, depth: int, *, volume: bool
    ) -> None:
        owner = self.owner
        if value is None:
            return
        path = _join(holder_path, "image")
        if isinstance(value, str):
            self.images.append(owner.image(value, _label(holder, holder_path), path, "fallback"))
            return
        if volume:
            self.images.append(_image_volume(owner, holder, holder_path, "fallback"))
            return
        name = _text(holder.get("name"))
        if name is not None:
            raise WorkloadError(
                f"{owner.describe()}: {path} (container {name}) must be a string, not {type(value).__name__}"
            )
        found = len(self.images)
        self.walk(value, path, depth + 1)
        if len(self.images) == found:
            self.unreadable.append((path, f"is {_a(value)}, not an image reference"))


def _a(value: object) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    return "a number" if isinstance(value, int | float) else f"a {type(value).__name__}"


def _label(holder: Mapping[object, object], holder_path: str) -> str:
    """A name for what holds a fallback image: its ``name``, else its list index or key."""
    name = _text(holder.get("name"))
    if name:
        return name
    last = holder_path.rsplit(".", 1)[-1]
    if last.endswith("]"):
        return "#" + last.rsplit("[", 1)[-1].rstrip("]")
    return last or "(the object)"


def _ignored(owner: _Owner, ignore: Iterable[KindSelector]) -> bool:
    return any(s.matches(owner.api_version, owner.kind) for s in ignore)


def _unknown(
    owner: _Owner, obj: Mapping[object, object], prefix: str, depth: int, ignore: Sequence[KindSelector]
) -> KubernetesImages:
    walk = _Fallback(owner)
    walk.walk(obj, prefix, depth)
    out = KubernetesImages(images=walk.images)
    if _ignored(owner, ignore):
        return out
    out.not_understood.extend(owner.not_understood(path, problem) for path, problem in walk.unreadable)
    if not walk.images and walk.pod_like is not None:
        out.not_understood.append(owner.not_understood(walk.pod_like, _POD_LIKE_PROBLEM))
    return out


def _object(
    document: int, obj: object, prefix: str, depth: int, ignore: Sequence[KindSelector], out: KubernetesImages
) -> None:
    where = f"document {document + 1}" + (f" at {prefix}" if prefix else "")
    if not isinstance(obj, Mapping):
        raise WorkloadError(f"{where}: a Kubernetes object must be a mapping, not {type(obj).__name__}")
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        raise WorkloadError(f"{where}: the object has no kind")
    owner = _owner(document, obj)
    if kind.endswith("List") and "items" in obj:
        items = obj.get("items")
        if items is not None and not isinstance(items, list):
            raise WorkloadError(f"{owner.describe()}: {_join(prefix, 'items')} must be a list")
        if depth >= _MAX_SEARCH_DEPTH:
            raise WorkloadError(f"{owner.describe()}: Lists are nested too deeply")
        for index, item in enumerate(items or []):
            _object(document, item, f"{_join(prefix, 'items')}[{index}]", depth + 1, ignore, out)
        rest = _unknown(owner, {k: v for k, v in obj.items() if k != "items"}, prefix, depth, ignore)
        out.images.extend(rest.images)
        out.not_understood.extend(rest.not_understood)
        return
    spec_path = workload_pod_spec_path(owner.api_version, kind)
    if spec_path is not None:
        out.images.extend(_known_kind(owner, obj, spec_path, prefix))
        return
    if is_no_image_kind(owner.api_version, kind):
        return
    found = _unknown(owner, obj, prefix, depth, ignore)
    out.images.extend(found.images)
    out.not_understood.extend(found.not_understood)


def images_from_kubernetes(
    documents: Sequence[object], *, ignore_kinds: Sequence[KindSelector] = ()
) -> KubernetesImages:
    """Every image in a stream of Kubernetes objects, and every object not understood.

    Images come in document order; within a known kind's pod spec, init
    containers first, then containers, ephemeral containers and image volumes.
    ``None`` documents (empty YAML documents) are skipped.  Objects whose kind
    matches ``ignore_kinds`` are never reported as not understood (their
    images are still reported).

    Raises:
        WorkloadError: a document is not a mapping or has no ``kind``; in a
            known kind, a container list, container, volume or pod spec has the
            wrong type, or a container or image volume has no image or a
            non-string one; in any other kind, a container-like mapping (with a
            ``name``) has a non-string ``image``, or an image volume has no
            string reference; or the object is nested too deeply.  The message
            names the document (counted from 1), the object's kind/name and the
            field path.
    """
    out = KubernetesImages()
    for index, document in enumerate(documents):
        if document is None:
            continue
        _object(index, document, "", 0, ignore_kinds, out)
    return out
