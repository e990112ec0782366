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

This module is the public face of that reading (its names are pinned); the
values it reports are in :mod:`~harbourmaster.domain.workload_images`, the
strict reading in :mod:`~harbourmaster.domain.pod_specs` and the fallback in
:mod:`~harbourmaster.domain.image_fallback`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harbourmaster.domain.image_fallback import MAX_SEARCH_DEPTH, POD_LIKE_KEYS, fallback_images
from harbourmaster.domain.kinds import KindSelector, is_no_image_kind, workload_pod_spec_path
from harbourmaster.domain.pod_specs import CONTAINER_FIELDS, ImageOwner, join_path, pod_spec_images
from harbourmaster.domain.workload_images import (
    Extraction,
    KubernetesImages,
    NotUnderstood,
    WorkloadError,
    WorkloadImage,
    unresolved_placeholder,
)

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


def _object(
    document: int, obj: object, prefix: str, depth: int, ignore: Sequence[KindSelector], out: KubernetesImages
) -> None:
    where = f"document {document + 1}" + (f" at {prefix}" if prefix else "")
    if not isinstance(obj, Mapping):
        raise WorkloadError(f"{where}: a Kubernetes object must be a mapping, not {type(obj).__name__}")
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        raise WorkloadError(f"{where}: the object has no kind")
    owner = ImageOwner.of(document, obj)
    if kind.endswith("List") and "items" in obj:
        items = obj.get("items")
        if items is not None and not isinstance(items, list):
            raise WorkloadError(f"{owner.describe()}: {join_path(prefix, 'items')} must be a list")
        if depth >= MAX_SEARCH_DEPTH:
            raise WorkloadError(f"{owner.describe()}: Lists are nested too deeply")
        for index, item in enumerate(items or []):
            _object(document, item, f"{join_path(prefix, 'items')}[{index}]", depth + 1, ignore, out)
        rest = fallback_images(owner, {k: v for k, v in obj.items() if k != "items"}, prefix, depth, ignore)
        out.images.extend(rest.images)
        out.not_understood.extend(rest.not_understood)
        return
    spec_path = workload_pod_spec_path(owner.api_version, kind)
    if spec_path is not None:
        out.images.extend(pod_spec_images(owner, obj, spec_path, prefix))
        return
    if is_no_image_kind(owner.api_version, kind):
        return
    found = fallback_images(owner, obj, prefix, depth, ignore)
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
