"""Built-in workloads read strictly at their pod spec, and the Kubernetes object an image belongs to.

A known kind (``apps`` Deployment, ``batch`` Job, core Pod ...) is read at the
pod spec :func:`~harbourmaster.domain.kinds.workload_pod_spec_path` names: init
containers, containers, ephemeral containers, then image volumes
(``volumes[].image.reference``).  A container without a string image is an
error.  :class:`ImageOwner` and :func:`image_volume` serve the fallback reading
(:mod:`harbourmaster.domain.image_fallback`) too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from harbourmaster.domain.workload_images import Extraction, NotUnderstood, WorkloadError, WorkloadImage

__all__ = [
    "CONTAINER_FIELDS",
    "ImageOwner",
    "image_volume",
    "join_path",
    "pod_spec_images",
    "text_value",
]

#: The pod-spec fields that hold containers, in the order they are reported.
CONTAINER_FIELDS: tuple[str, ...] = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True, slots=True)
class ImageOwner:
    """The Kubernetes object an image belongs to, as messages and results name it."""

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

    @classmethod
    def of(cls, document: int, obj: Mapping[str, object]) -> ImageOwner:
        """The object at index ``document`` of the stream, as its ``metadata`` names it."""
        metadata = obj.get("metadata")
        meta: Mapping[str, object] = metadata if isinstance(metadata, Mapping) else {}
        name = text_value(meta.get("name")) or text_value(meta.get("generateName")) or ""
        return cls(
            document=document,
            api_version=text_value(obj.get("apiVersion")) or "",
            kind=text_value(obj.get("kind")) or "",
            name=name,
            namespace=text_value(meta.get("namespace")),
        )


def text_value(value: object) -> str | None:
    """``value`` when it is a string, else None."""
    return value if isinstance(value, str) else None


def join_path(prefix: str, key: str) -> str:
    """The field path of ``key`` under ``prefix`` (the object itself: empty)."""
    return f"{prefix}.{key}" if prefix else key


def image_volume(
    owner: ImageOwner, volume: Mapping[object, object], path: str, extraction: Extraction
) -> WorkloadImage:
    """The image of an image volume (``volumes[i].image.reference``, Kubernetes 1.31+)."""
    name = text_value(volume.get("name")) or path.rsplit("[", 1)[-1].rstrip("]")
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


def _pod_spec(owner: ImageOwner, pod_spec: Mapping[str, object], prefix: str) -> Iterator[WorkloadImage]:
    """The images of a known kind's pod spec: its containers, then its image volumes."""
    for list_field in CONTAINER_FIELDS:
        if pod_spec.get(list_field) is None:
            continue
        containers = pod_spec[list_field]
        list_path = join_path(prefix, list_field)
        if not isinstance(containers, list):
            raise WorkloadError(f"{owner.describe()}: {list_path} must be a list of containers")
        for index, container in enumerate(containers):
            path = f"{list_path}[{index}]"
            if not isinstance(container, Mapping):
                raise WorkloadError(f"{owner.describe()}: {path} must be a container (a mapping)")
            container_name = text_value(container.get("name")) or f"#{index}"
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
    volumes_path = join_path(prefix, "volumes")
    if not isinstance(volumes, list):
        raise WorkloadError(f"{owner.describe()}: {volumes_path} must be a list of volumes")
    for index, volume in enumerate(volumes):
        path = f"{volumes_path}[{index}]"
        if not isinstance(volume, Mapping):
            raise WorkloadError(f"{owner.describe()}: {path} must be a volume (a mapping)")
        if volume.get("image") is not None:
            yield image_volume(owner, volume, path, "known")


def pod_spec_images(
    owner: ImageOwner, obj: Mapping[str, object], path: tuple[str, ...], prefix: str
) -> Iterator[WorkloadImage]:
    node: object = obj
    walked = prefix
    for step in path:
        if not isinstance(node, Mapping):
            raise WorkloadError(f"{owner.describe()}: {walked} must be a mapping")
        node = node.get(step)
        walked = join_path(walked, step)
        if node is None:
            return
    if not isinstance(node, Mapping):
        raise WorkloadError(f"{owner.describe()}: {walked} must be a mapping (a pod spec)")
    yield from _pod_spec(owner, node, walked)
