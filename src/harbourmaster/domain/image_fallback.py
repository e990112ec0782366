"""The fallback reading of a Kubernetes object that is not a known kind, failing closed.

Anything not a built-in kind (a custom resource, including one reusing a
built-in kind name under another group, or a built-in kind under a group it
does not belong to) is read here: every string under a key named ``image``
anywhere in the object is an image, and so is ``reference`` under
``volumes[].image``.  The rules for what is an error and what is *not
understood* are in :mod:`harbourmaster.domain.workloads`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from harbourmaster.domain.kinds import KindSelector
from harbourmaster.domain.pod_specs import CONTAINER_FIELDS, ImageOwner, image_volume, join_path, text_value
from harbourmaster.domain.workload_images import KubernetesImages, WorkloadError, WorkloadImage

__all__ = ["MAX_SEARCH_DEPTH", "POD_LIKE_KEYS", "fallback_images"]

#: Keys that mark pod-like structure in an object the fallback reads (see the workloads module).
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

#: Bounds the fallback's walk (and the nesting of Lists); a pod spec is never this deep.
MAX_SEARCH_DEPTH = 64

_POD_LIKE_PROBLEM = "looks like a pod or container definition, but no image was found anywhere in the object"


def _pod_like(key: str, value: object) -> bool:
    if key not in POD_LIKE_KEYS:
        return False
    if isinstance(value, Mapping | list):
        return len(value) > 0
    return key == "script" and isinstance(value, str) and bool(value.strip())


class _Fallback:
    """The fallback reading of one object (see :mod:`harbourmaster.domain.workloads`)."""

    def __init__(self, owner: ImageOwner) -> None:
        self.owner = owner
        self.images: list[WorkloadImage] = []
        self.unreadable: list[tuple[str, str]] = []
        self.pod_like: str | None = None

    def walk(self, node: object, path: str, depth: int, *, volume: bool = False) -> None:
        if depth > MAX_SEARCH_DEPTH:
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
            child = join_path(path, key)
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
        path = join_path(holder_path, "image")
        if isinstance(value, str):
            self.images.append(owner.image(value, _label(holder, holder_path), path, "fallback"))
            return
        if volume:
            self.images.append(image_volume(owner, holder, holder_path, "fallback"))
            return
        name = text_value(holder.get("name"))
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
    name = text_value(holder.get("name"))
    if name:
        return name
    last = holder_path.rsplit(".", 1)[-1]
    if last.endswith("]"):
        return "#" + last.rsplit("[", 1)[-1].rstrip("]")
    return last or "(the object)"


def _ignored(owner: ImageOwner, ignore: Iterable[KindSelector]) -> bool:
    return any(s.matches(owner.api_version, owner.kind) for s in ignore)


def fallback_images(
    owner: ImageOwner, obj: Mapping[object, object], prefix: str, depth: int, ignore: Sequence[KindSelector]
) -> KubernetesImages:
    """The images the fallback finds in ``obj``, and (unless its kind is in ``ignore``) why it is not
    understood.

    Raises:
        WorkloadError: a container-like mapping has a non-string image, an image volume has no string
            reference, or the object is nested too deeply.
    """
    walk = _Fallback(owner)
    walk.walk(obj, prefix, depth)
    out = KubernetesImages(images=walk.images)
    if _ignored(owner, ignore):
        return out
    out.not_understood.extend(owner.not_understood(path, problem) for path, problem in walk.unreadable)
    if not walk.images and walk.pod_like is not None:
        out.not_understood.append(owner.not_understood(walk.pod_like, _POD_LIKE_PROBLEM))
    return out
