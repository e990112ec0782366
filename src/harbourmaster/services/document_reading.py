"""Reading a governance document: every problem at once, each with its path.

:func:`read_document` validates the whole document against the schema
(:class:`~harbourmaster.services.document.GovernanceDocument`), then keeps every
entry that fits it: ``apply`` goes on to check the values and the references of
what was kept, so a file's schema, value and reference problems are reported
together.  The names of the entries left out are passed on
(:class:`~harbourmaster.domain.state.Unchecked`) so that a reference to a broken
entry is not reported a second time as undefined.

An unknown field is named when its name is identifier-shaped, with the closest
field of that place ("did you mean"); otherwise it is ``<unprintable>``: a
secret pasted on the wrong line is never repeated.  Pydantic's messages are
used without the input value, for the same reason.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harbourmaster.domain.spelling import did_you_mean, field_name
from harbourmaster.domain.state import Unchecked, Violation
from harbourmaster.services.document import (
    API_VERSION,
    MAX_DOCUMENT_BYTES,
    DocumentInvalid,
    GovernanceDocument,
)

__all__ = ["DocumentReading", "document_order", "parse_document", "read_document"]


def _loc(parts: Sequence[int | str]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(document)"


class _Loader(yaml.SafeLoader):
    """YAML's safe loader, except that a date-like scalar that is no date (``2025-13-01``) stays a
    string: the schema then reports it with its path, instead of the YAML library failing."""


def _timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)  # type: ignore[arg-type]
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)  # type: ignore[arg-type]


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def _load_yaml(text: str, *, source: str) -> dict[str, Any]:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise DocumentInvalid(source, [Violation("(document)", f"larger than {MAX_DOCUMENT_BYTES} bytes")])
    try:
        raw: Any = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(document)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise DocumentInvalid(source, [Violation(where, f"invalid YAML: {problem}")]) from None
    except RecursionError:
        raise DocumentInvalid(source, [Violation("(document)", "invalid YAML: nested too deeply")]) from None
    if not isinstance(raw, dict):
        raise DocumentInvalid(
            source,
            [
                Violation(
                    "(document)", f"expected a mapping with apiVersion: {API_VERSION} and kind: Governance"
                )
            ],
        )
    return raw


@dataclass(frozen=True, slots=True)
class DocumentReading:
    """A document read as far as it could be.

    ``document`` holds every entry without a schema problem (None when not even
    that could be made), ``problems`` the schema problems with their paths, and
    ``unchecked`` the names defined by the entries left out, so that references to
    them are not reported again as undefined.
    """

    document: GovernanceDocument | None
    problems: tuple[Violation, ...] = ()
    unchecked: Unchecked = field(default_factory=Unchecked)
    #: The document's top-level keys in the order written, to sort problems by.
    sections: tuple[str, ...] = ()
    #: Per section that lost entries, the index in the document of each entry ``document`` kept.
    positions: Mapping[str, tuple[int, ...]] = field(default_factory=dict)


#: Sections whose entries are checked one by one, and the kind of name each entry defines.
_LIST_SECTIONS: dict[str, str | None] = {
    "registries": "registry",
    "environments": "environment",
    "users": "user",
    "teams": "team",
    "access": None,
    "grants": None,
    "allowlist": None,
    "mirrors": "mirror",
}


def read_document(text: str, *, source: str) -> DocumentReading:
    """Read a governance document, keeping what fits the schema and every problem with its path.

    Raises:
        DocumentInvalid: the text is not YAML, or not a mapping (nothing can be read).
    """
    raw = _load_yaml(text, source=source)
    sections = tuple(str(k) for k in raw)
    try:
        return DocumentReading(GovernanceDocument.model_validate(raw), sections=sections)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
    problems = tuple(_violation(e) for e in errors)
    usable, unchecked, positions = _usable_part(raw, [tuple(e["loc"]) for e in errors])
    try:
        document: GovernanceDocument | None = GovernanceDocument.model_validate(usable)
    except ValidationError:
        document = None
    return DocumentReading(document, problems, unchecked, sections, positions)


def parse_document(text: str, *, source: str) -> GovernanceDocument:
    """Parse a governance document that must fit the schema entirely.

    Raises:
        DocumentInvalid: the YAML is malformed or the document does not fit
            the schema; every problem is listed with its path.
    """
    reading = read_document(text, source=source)
    if reading.problems or reading.document is None:
        raise DocumentInvalid(source, list(reading.problems))
    return reading.document


def _usable_part(
    raw: dict[str, Any], locs: list[tuple[int | str, ...]]
) -> tuple[dict[str, Any], Unchecked, dict[str, tuple[int, ...]]]:
    """``raw`` without the entries (or, outside lists of entries, the sections) that have problems;
    the names those entries define; and where each kept entry is in ``raw``."""
    bad_entries: dict[str, set[int]] = {}
    bad_sections: set[str] = set()
    for loc in locs:
        section = str(loc[0]) if loc else "(document)"
        list_section = section in _LIST_SECTIONS and isinstance(raw.get(section), list)
        if list_section and len(loc) >= 2 and isinstance(loc[1], int):
            bad_entries.setdefault(section, set()).add(loc[1])
        else:
            bad_sections.add(section)
    usable = dict(raw)
    names: dict[str, set[str]] = {}
    kinds: set[str] = set()
    for section in bad_sections:
        usable.pop(section, None)
        if _LIST_SECTIONS.get(section):
            kinds.add(str(_LIST_SECTIONS[section]))
    usable.update({"apiVersion": API_VERSION, "kind": "Governance"})
    positions: dict[str, tuple[int, ...]] = {}
    for section, indexes in bad_entries.items():
        entries = raw[section]
        positions[section] = tuple(i for i in range(len(entries)) if i not in indexes)
        usable[section] = [entries[i] for i in positions[section]]
        kind = _LIST_SECTIONS[section]
        for i in indexes:
            name = entries[i].get("name") if isinstance(entries[i], dict) else None
            if kind is not None and isinstance(name, str):
                names.setdefault(kind, set()).add(name)
    frozen = {kind: frozenset(v) for kind, v in names.items()}
    return usable, Unchecked(names=frozen, kinds=frozenset(kinds)), positions


def _violation(error: Any) -> Violation:
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        # The key is named only when it is identifier-shaped: a pasted secret is not repeated.
        key = loc[-1] if loc else None
        known = _fields_at(loc[:-1])
        hint = did_you_mean(key, known, quote=True) if isinstance(key, str) else ""
        return Violation(_loc(loc[:-1]), f"unknown field {field_name(key)}{hint}")
    return Violation(_loc(loc), _clean_message(error))


def _fields_at(loc: Sequence[int | str]) -> list[str]:
    """The field names (as written in YAML) of the object at ``loc`` in a document; [] if unknown."""
    kind: Any = GovernanceDocument
    for part in loc:
        kind = _unwrap_optional(kind)
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            found = next((f for n, f in kind.model_fields.items() if part in (n, f.alias)), None)
            if found is None:
                return []
            kind = found.annotation
            continue
        origin, args = typing.get_origin(kind), typing.get_args(kind)
        if origin is list and args:
            kind = args[0]
        elif origin is dict and len(args) == 2:
            kind = args[1]
        else:
            return []
    kind = _unwrap_optional(kind)
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return [f.alias or n for n, f in kind.model_fields.items()]
    return []


def _unwrap_optional(kind: Any) -> Any:
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return kind


def _clean_message(error: Any) -> str:
    """Pydantic's message without the input: a value in the wrong place may be a pasted secret."""
    if error.get("type", "") == "missing":
        return "required field is missing"
    return str(error.get("msg", "invalid"))


def document_order(violations: Sequence[Violation], sections: Sequence[str]) -> list[Violation]:
    """``violations`` in the order of the document: by section as written, then by entry (stable)."""
    rank = {name: i for i, name in enumerate(sections)}

    def key(v: Violation) -> tuple[int, int]:
        head, _, rest = v.path.partition("[")
        section = head.split(".", 1)[0]
        index = rest.split("]", 1)[0]
        return (rank.get(section, len(rank)), int(index) if index.isdigit() else -1)

    return sorted(violations, key=key)
