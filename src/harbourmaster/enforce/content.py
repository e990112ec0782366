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

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from harbourmaster.domain.compose import images_from_compose
from harbourmaster.domain.kinds import KindSelector
from harbourmaster.domain.workload_images import NotUnderstood, WorkloadError, WorkloadImage
from harbourmaster.domain.workloads import images_from_kubernetes
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
    ``not_understood`` lists Kubernetes objects that may run containers whose
    images could not be read (see :mod:`harbourmaster.domain.workloads`).
    """

    kind: Literal["kubernetes", "compose"]
    images: list[WorkloadImage] = field(default_factory=list)
    build_only: list[str] = field(default_factory=list)
    not_understood: list[NotUnderstood] = field(default_factory=list)


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


@dataclass(slots=True)
class _Budget:
    """What is left of the limits, shared by a file and every file it includes."""

    nodes: int = MAX_EXPANDED_NODES
    bytes: int = MAX_CONTENT_BYTES


def _parse_documents(text: str, source: str, budget: _Budget | None = None) -> list[object]:
    documents: list[object] = []
    budget = budget or _Budget()
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                documents.append(None)
                continue
            budget.nodes = _check_node_graph(source, node, budget.nodes)
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
    return ("services" in present[0] or "include" in present[0]) and "kind" not in present[0]


class _ComposeFiles:
    """Reads the files a compose file includes or extends, relative to the file that names them.

    Every file counts against the same byte and node budget as the file being
    checked; each must be a regular file (not a directory, FIFO or device) and
    hold one YAML document.  A file is read once, however often it is named.
    """

    def __init__(self, origin: Path, source: str, budget: _Budget) -> None:
        self.source = source
        self.budget = budget
        self.cache: dict[str, object] = {}
        # Files are named by their real path (so a cycle through a symlink is seen), but, as
        # compose does, relative paths are resolved from the directory a file was reached in.
        self.main = str(origin.resolve())
        self.reached: dict[str, Path] = {self.main: origin.absolute()}

    def __call__(self, path: str, *, relative_to: str | None, field: str) -> tuple[str, object]:
        including = self.reached.get(relative_to or self.main) or Path(relative_to or self.main)
        target = including.parent / path
        where = f"{relative_to or self.source}: {field}"
        try:
            name = str(target.resolve(strict=True))
        except (OSError, RuntimeError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise ContentError(f"{where}: cannot read {path} ({target}): {why}") from None
        self.reached.setdefault(name, target)
        if name in self.cache:
            return name, self.cache[name]
        raw = self._read(name, where, path)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ContentError(f"{where}: {name} is not UTF-8 text (byte {exc.start})") from exc
        present = [d for d in _parse_documents(text, name, self.budget) if d is not None]
        if len(present) != 1:
            raise ContentError(f"{where}: {name} must hold one YAML document, not {len(present)}")
        self.cache[name] = present[0]
        return name, present[0]

    def _read(self, name: str, where: str, path: str) -> bytes:
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(name, flags)
        except OSError as exc:
            raise ContentError(f"{where}: cannot read {path} ({name}): {exc.strerror or exc}") from None
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
        except OSError:
            regular = False
        if not regular:
            os.close(fd)
            raise ContentError(f"{where}: {path} ({name}) is not a regular file")
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(self.budget.bytes + 1)
        if len(raw) > self.budget.bytes:
            raise ContentError(
                f"{where}: with {name}, the content and the files it includes are larger than "
                f"{MAX_CONTENT_BYTES} bytes in total"
            )
        self.budget.bytes -= len(raw)
        return raw


def load_deployment_content(
    text: str,
    *,
    source: str,
    origin: Path | None = None,
    ignore_kinds: Sequence[KindSelector] = (),
) -> DeploymentContent:
    """Parse YAML deployment content and list every image it names.

    A single mapping with top-level ``services`` or ``include`` (and no
    ``kind``) is a compose file; anything else must be Kubernetes objects
    (each document a mapping with ``kind``; empty documents are skipped).
    Content with no documents is Kubernetes content with no images.

    ``origin`` is the file ``text`` was read from: a compose file's
    ``include`` and ``extends.file`` paths are resolved against it (and
    refused without it).  Every file read counts against
    :data:`MAX_CONTENT_BYTES` and :data:`MAX_EXPANDED_NODES` together.
    Kubernetes objects of a kind in ``ignore_kinds`` are never reported as
    not understood.

    Raises:
        ContentError: naming ``source``: the text (with what it includes) is
            over :data:`MAX_CONTENT_BYTES`, is not valid YAML (with line and
            column), expands too far through aliases, repeats a key, or a
            document is not a Kubernetes object or compose file; a container
            or service names its image wrongly (the message then carries the
            document, object and field path); or an included or extended file
            cannot be followed, read or parsed (naming the field and file).
    """
    if len(text) > MAX_CONTENT_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_CONTENT_BYTES:
        raise ContentError(f"{source}: deployment content is larger than {MAX_CONTENT_BYTES} bytes")
    budget = _Budget(bytes=MAX_CONTENT_BYTES - len(text.encode("utf-8", "surrogatepass")))
    documents = _parse_documents(text, source, budget)
    try:
        if _is_compose(documents):
            compose = next(d for d in documents if d is not None)
            assert isinstance(compose, Mapping)
            if origin is None:
                found = images_from_compose(compose)
            else:
                files = _ComposeFiles(origin, source, budget)
                found = images_from_compose(compose, read=files, file=files.main)
            return DeploymentContent(kind="compose", images=found.images, build_only=found.build_only)
        objects = images_from_kubernetes(documents, ignore_kinds=ignore_kinds)
        return DeploymentContent(
            kind="kubernetes", images=objects.images, not_understood=objects.not_understood
        )
    except WorkloadError as exc:
        raise ContentError(f"{source}: {exc.message}", details=exc.details) from exc


def load_deployment_file(path: Path, *, ignore_kinds: Sequence[KindSelector] = ()) -> DeploymentContent:
    """Read ``path`` and load it as :func:`load_deployment_content` does, with ``path`` as origin.

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
    return load_deployment_content(text, source=source, origin=path, ignore_kinds=ignore_kinds)
