"""Pinning deployment content to the digests its verdict checked: pure, no I/O.

:func:`pinned_reference` is the reference a target pulls (``host/repo@sha256:...``, the tag dropped so
the engine cannot resolve it again); :func:`pin_documents` writes those references into parsed
Kubernetes objects at the field paths the image extraction found them
(``spec.template.spec.containers[0].image``), so what is applied is exactly what was judged.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from harbourmaster.domain.reference import parse_reference
from harbourmaster.errors import BadInput

__all__ = ["field_path_parts", "pin_documents", "pinned_reference", "verdict_id"]


def pinned_reference(image: str, digest: str) -> str:
    """``image`` (any tag dropped) at ``digest``: ``127.0.0.1:5000/team/app@sha256:...``.

    Raises:
        ReferenceError: ``image`` is not a valid reference.
        BadInput: ``image`` names another digest than ``digest``.
    """
    ref = parse_reference(image)
    if ref.digest is not None and str(ref.digest) != digest:
        raise BadInput(f"image {image} names digest {ref.digest}, but {digest} was checked")
    return f"{ref.repository}@{digest}"


def field_path_parts(field_path: str) -> list[str | int]:
    """``spec.containers[0].image`` as ``["spec", "containers", 0, "image"]``."""
    parts: list[str | int] = []
    for segment in field_path.split("."):
        name, *indexes = segment.split("[")
        if name:
            parts.append(name)
        parts.extend(int(i.rstrip("]")) for i in indexes)
    return parts


def pin_documents(
    documents: Sequence[Mapping[str, Any]], pins: Sequence[tuple[int, str, str]]
) -> list[dict[str, Any]]:
    """Copies of ``documents`` with each ``(document index, field path, reference)`` of ``pins`` written.

    Raises:
        BadInput: a path does not lead to a string in its document (the content changed since it was
            judged: nothing is written).
    """
    pinned = [copy.deepcopy(dict(d)) for d in documents]
    for index, path, reference in pins:
        parts = field_path_parts(path)
        try:
            holder: Any = pinned[index]
            for part in parts[:-1]:
                holder = holder[part]
            if not isinstance(holder[parts[-1]], str):
                raise TypeError(path)
            holder[parts[-1]] = reference
        except (IndexError, KeyError, TypeError):
            raise BadInput(f"document {index + 1}: {path} is not an image field of the content") from None
    return pinned


def verdict_id(revision: int, images: Sequence[Mapping[str, Any]]) -> str:
    """A short id of the verdict a deployment went out under: the model revision and every image with
    its checked digest and decision, hashed (``v-`` and 20 hex digits)."""
    canonical = json.dumps({"revision": revision, "images": list(images)}, sort_keys=True, default=str)
    return "v-" + hashlib.sha256(canonical.encode()).hexdigest()[:20]
