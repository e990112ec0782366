"""Loading deployment content (Kubernetes manifests, compose files) from YAML.

The YAML is read with PyYAML's safe loader, with guards a manifest from an
untrusted author needs:

* input over :data:`MAX_CONTENT_BYTES` is refused before parsing;
* alias expansion is bounded (:data:`MAX_EXPANDED_NODES`), so a
  "billion laughs" document is refused instead of exhausting memory or time
  for whoever walks the result, and a recursive alias is refused outright;
* a mapping with the same key twice is refused: YAML parsers disagree on which
  value wins, and ``image`` must mean the same here as in the cluster;
* deep nesting is refused (libyaml's limit, or Python's recursion limit with
  the pure-Python parser).

Errors name the source, and the line and column where YAML points at one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from harbourmaster.domain.workloads import (
    WorkloadError,
    WorkloadImage,
    images_from_compose,
    images_from_kubernetes,
)
from harbourmaster.errors import BadInput

__all__ = [
    "MAX_CONTENT_BYTES",
    "MAX_EXPANDED_NODES",
    "ContentError",
    "DeploymentContent",
    "load_deployment_content",
    "load_deployment_file",
]

MAX_CONTENT_BYTES = 10 * 1024 * 1024
MAX_EXPANDED_NODES = 2_000_000

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"


class ContentError(BadInput):
    """Deployment content cannot be read, parsed or understood."""

    kind = "invalid-deployment-content"


@dataclass(frozen=True, slots=True)
class DeploymentContent:
    """The images found in deployment content.

    ``build_only`` lists compose services that have ``build`` and no
    ``image``: their image does not exist until built, so it cannot be checked.
    """

    kind: Literal["kubernetes", "compose"]
    images: list[WorkloadImage] = field(default_factory=list)
    build_only: list[str] = field(default_factory=list)


def _position(mark: Any) -> str:
    if mark is None:
        return ""
    return f" at line {mark.line + 1}, column {mark.column + 1}"


def _check_node_graph(source: str, root: yaml.Node, budget: int) -> int:
    """Refuse duplicate keys, recursive aliases and over-expansion; return what is left of ``budget``.

    One pass visits each node once, checking keys; a node met twice means an
    alias.  Only then is the expanded size computed, memoised per node, so
    both passes are linear in the node graph rather than in its expansion.
    """
    seen: set[int] = set()
    shared = False
    stack: list[yaml.Node] = [root]
    while stack:
        node = stack.pop()
        key = id(node)
        if key in seen:
            shared = True
            continue
        seen.add(key)
        if node.__class__ is yaml.MappingNode:
            _check_duplicate_keys(source, node)
            for pair in node.value:
                stack.extend(pair)
        elif node.__class__ is yaml.SequenceNode:
            stack.extend(node.value)
    size = _expanded_size(source, root, budget) if shared else len(seen)
    if size > budget:
        raise ContentError(f"{source}: the content has over {MAX_EXPANDED_NODES} YAML nodes; refusing it")
    return budget - size


def _expanded_size(source: str, root: yaml.Node, budget: int) -> int:
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            active.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > budget:
                raise ContentError(
                    f"{source}: the document expands to more than {MAX_EXPANDED_NODES} YAML nodes "
                    f"through aliases{_position(node.start_mark)}; refusing it"
                )
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in active:
            raise ContentError(f"{source}: recursive YAML alias{_position(node.start_mark)}")
        active.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_duplicate_keys(source: str, node: yaml.MappingNode) -> None:
    keys = [
        (key_node.tag, key_node.value)
        for key_node, _ in node.value
        if key_node.__class__ is yaml.ScalarNode and key_node.tag != _MERGE_TAG
    ]
    if len(set(keys)) == len(keys):
        return
    seen: set[tuple[str, str]] = set()
    for key_node, _ in node.value:
        if key_node.__class__ is not yaml.ScalarNode or key_node.tag == _MERGE_TAG:
            continue
        marker = (key_node.tag, key_node.value)
        if marker in seen:
            raise ContentError(
                f"{source}: duplicate key {key_node.value!r}{_position(key_node.start_mark)}; "
                "YAML tools disagree on which value wins, so it is refused"
            )
        seen.add(marker)


def _parse_documents(text: str, source: str) -> list[object]:
    documents: list[object] = []
    budget = MAX_EXPANDED_NODES
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                documents.append(None)
                continue
            budget = _check_node_graph(source, node, budget)
            documents.append(loader.construct_document(node))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        raise ContentError(f"{source}: invalid YAML{_position(mark)}: {problem}") from exc
    except yaml.YAMLError as exc:
        raise ContentError(f"{source}: invalid YAML: {exc}") from exc
    except RecursionError as exc:
        raise ContentError(f"{source}: the YAML is nested too deeply") from exc
    finally:
        loader.dispose()
    return documents


def _is_compose(documents: list[object]) -> bool:
    present = [d for d in documents if d is not None]
    if len(present) != 1 or not isinstance(present[0], Mapping):
        return False
    return "services" in present[0] and "kind" not in present[0]


def load_deployment_content(text: str, *, source: str) -> DeploymentContent:
    """Parse YAML deployment content and list every image it names.

    A single mapping with top-level ``services`` (and no ``kind``) is a compose
    file; anything else must be Kubernetes objects (each document a mapping
    with ``kind``; empty documents are skipped).  Content with no documents is
    Kubernetes content with no images.

    Raises:
        ContentError: naming ``source``: the text is over
            :data:`MAX_CONTENT_BYTES`, is not valid YAML (with line and
            column), expands too far through aliases, repeats a key, or a
            document is not a Kubernetes object or compose file; or a
            container or service names its image wrongly (the message then
            carries the document, object and field path).
    """
    if len(text) > MAX_CONTENT_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_CONTENT_BYTES:
        raise ContentError(f"{source}: deployment content is larger than {MAX_CONTENT_BYTES} bytes")
    documents = _parse_documents(text, source)
    try:
        if _is_compose(documents):
            compose = next(d for d in documents if d is not None)
            assert isinstance(compose, Mapping)
            found = images_from_compose(compose)
            return DeploymentContent(kind="compose", images=found.images, build_only=found.build_only)
        return DeploymentContent(kind="kubernetes", images=images_from_kubernetes(documents))
    except WorkloadError as exc:
        raise ContentError(f"{source}: {exc.message}", details=exc.details) from exc


def load_deployment_file(path: Path) -> DeploymentContent:
    """Read ``path`` and load it as :func:`load_deployment_content` does.

    Raises:
        ContentError: naming the path: it cannot be read, is larger than
            :data:`MAX_CONTENT_BYTES`, is not UTF-8, or its content is refused
            as :func:`load_deployment_content` says.
    """
    source = str(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONTENT_BYTES + 1)
    except OSError as exc:
        raise ContentError(f"{source}: cannot read the file: {exc.strerror or exc}") from exc
    if len(raw) > MAX_CONTENT_BYTES:
        raise ContentError(f"{source}: the file is larger than {MAX_CONTENT_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ContentError(f"{source}: the file is not UTF-8 text (byte {exc.start})") from exc
    return load_deployment_content(text, source=source)
