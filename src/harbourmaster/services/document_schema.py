"""The governance document's JSON Schema and field reference, generated from its models.

Both come from :class:`~harbourmaster.services.document.GovernanceDocument`, the
models ``apply`` validates with, so they cannot drift from what is accepted:
``harbourmaster schema`` prints the schema (checked in as
``docs/governance.schema.json``, named by the modeline of
``examples/governance.yaml`` for editors), and ``harbourmaster schema --markdown``
prints ``docs/governance.md``.  A test fails when the checked-in files are not
what these functions produce.
"""

from __future__ import annotations

import json
import re
from typing import Any

from harbourmaster.services.document import API_VERSION, GovernanceDocument

__all__ = ["SCHEMA_DIALECT", "governance_json_schema", "governance_markdown", "render_json_schema"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _text(description: str) -> str:
    """A docstring as one line of Markdown (``x`` becomes `x`)."""
    return re.sub(r"\s+", " ", description.replace("``", "`")).strip()


def _clean(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _clean(v) for k, v in node.items() if k != "title" or not isinstance(v, str)}
        if isinstance(out.get("description"), str):
            out["description"] = _text(out["description"])
        return out
    if isinstance(node, list):
        return [_clean(v) for v in node]
    return node


def governance_json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a governance document, as YAML editors use it."""
    schema = _clean(GovernanceDocument.model_json_schema(by_alias=True, mode="validation"))
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "harbourmaster governance document",
        **{k: v for k, v in schema.items() if k != "$defs"},
        "$defs": schema.get("$defs", {}),
    }


def render_json_schema() -> str:
    return json.dumps(governance_json_schema(), indent=2, sort_keys=False) + "\n"


# -- the field reference ---------------------------------------------------------


def _ref_name(node: dict[str, Any]) -> str | None:
    ref = node.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    options = node.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if o.get("type") != "null"]
        if len(rest) == 1:
            return {**rest[0], **{k: v for k, v in node.items() if k != "anyOf"}}
    return node


def _type(node: dict[str, Any], defs: dict[str, Any], paths: dict[str, str]) -> str:
    node = _nullable(node)
    name = _ref_name(node)
    if name is not None:
        target = defs[name]
        if "enum" in target:
            return "one of " + ", ".join(f"`{v}`" for v in target["enum"])
        return f"object ([{paths[name]}](#{_anchor(paths[name])}))"
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type")
    if kind == "array":
        return f"list of {_type(node['items'], defs, paths)}"
    if kind == "object" and "additionalProperties" in node:
        keys = _type(node.get("propertyNames", {"type": "string"}), defs, paths)
        return f"map: key {keys}, value {_type(node['additionalProperties'], defs, paths)}"
    if kind == "string" and node.get("format") == "date":
        return "date (YYYY-MM-DD)"
    return {"string": "string", "boolean": "boolean", "integer": "integer", "number": "number"}.get(
        str(kind), str(kind)
    )


def _default(node: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in node:
        # A list, map or object made fresh for each document.
        kind = _nullable(node).get("type")
        return {"array": "`[]`", "object": "`{}`"}.get(str(kind), "its fields' defaults")
    value = node["default"]
    if value is None or value == [] or value == {}:
        return "—"
    return f"`{json.dumps(value)}`"


def _anchor(path: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", path.lower()).replace(" ", "-")


def _paths(schema: dict[str, Any]) -> dict[str, str]:
    """Each object definition's place in a document (``registries[].credential``), breadth first."""
    defs = schema["$defs"]
    found: dict[str, str] = {}
    queue: list[tuple[str, dict[str, Any]]] = [("", schema)]
    while queue:
        where, node = queue.pop(0)
        for field, spec in node.get("properties", {}).items():
            spec = _nullable(spec)
            suffix, inner = "", spec
            if spec.get("type") == "array":
                suffix, inner = "[]", spec["items"]
            elif spec.get("type") == "object" and isinstance(spec.get("additionalProperties"), dict):
                suffix, inner = ".TIER", spec["additionalProperties"]
            name = _ref_name(inner)
            if name is None or "properties" not in defs[name] or name in found:
                continue
            found[name] = f"{where}.{field}{suffix}".lstrip(".")
            queue.append((found[name], defs[name]))
    return found


def governance_markdown() -> str:
    """``docs/governance.md``: every field of the document, where it goes, its type and default."""
    schema = governance_json_schema()
    defs = schema["$defs"]
    paths = _paths(schema)
    lines = [
        "# The governance document",
        "",
        "<!-- Generated by `harbourmaster schema --markdown` from the models in",
        "     src/harbourmaster/services/document.py; do not edit by hand. -->",
        "",
        f"One YAML document holds the whole model (`apiVersion: {API_VERSION}`, `kind: Governance`);",
        "`harbourmaster apply -f FILE` makes the model match it, and reports every problem at once with",
        "its path (`registries[0].credential.expires: ...`). Its JSON Schema is",
        "[`governance.schema.json`](governance.schema.json) (`harbourmaster schema`); editors that",
        "speak the YAML language server pick it up from the first line of",
        "[`examples/governance.yaml`](../examples/governance.yaml):",
        "",
        "```yaml",
        "# yaml-language-server: $schema=../docs/governance.schema.json",
        "```",
        "",
        "Secrets are never written in the document: `secret` and `client_key` are references,",
        "`env:VAR` or `file:/path`, resolved by the CLI on its own host.",
        "",
    ]
    sections: list[tuple[str, str, dict[str, Any]]] = [("(top level)", schema.get("description", ""), schema)]
    sections += [(paths[name], defs[name].get("description", ""), defs[name]) for name in paths]
    for title, description, node in sections:
        lines += [f"## {title}", ""]
        if description:
            lines += [_text(description), ""]
        lines += ["| field | type | default | description |", "|---|---|---|---|"]
        required = set(node.get("required", []))
        for field, spec in node.get("properties", {}).items():
            # Pydantic leaves out a field's description when it repeats its model's.
            target = _ref_name(_nullable(spec))
            about = spec.get("description") or (defs[target].get("description", "") if target else "")
            cells = [f"`{field}`", _type(spec, defs, paths), _default(spec, field in required), _text(about)]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    return "\n".join(lines)
