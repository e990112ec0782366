"""The governance document's JSON Schema and field reference are generated, and checked in current."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from pydantic import BaseModel

from harbourmaster.services.document import GovernanceDocument
from harbourmaster.services.document_schema import (
    governance_json_schema,
    governance_markdown,
    render_json_schema,
)

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLE = ROOT / "examples" / "governance.yaml"


def test_the_checked_in_schema_and_reference_are_current() -> None:
    # When this fails: .venv/bin/python scripts/gen_docs.py
    assert (DOCS / "governance.schema.json").read_text(encoding="utf-8") == render_json_schema()
    assert (DOCS / "governance.md").read_text(encoding="utf-8") == governance_markdown()


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    seen.add(model)
    for info in model.model_fields.values():
        for kind in (info.annotation, *getattr(info.annotation, "__args__", ())):
            for inner in (kind, *getattr(kind, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel) and inner not in seen:
                    _models(inner, seen)
    return seen


def test_every_field_is_described_and_documented() -> None:
    reference = governance_markdown()
    for model in _models(GovernanceDocument, set()):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no docstring"
            assert f"| `{info.alias or name}` |" in reference


def _plain(value: Any) -> Any:
    """YAML's dates as the strings they were written as (what an editor validates)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.isoformat() if isinstance(value, dt.date) else value


def _messages(error: jsonschema.ValidationError) -> list[str]:
    """An error's message and those of its causes (a nullable field's error is under its anyOf)."""
    return [error.message, *(m for e in error.context or [] for m in _messages(e))]


def test_the_example_names_the_schema_and_fits_it() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=../docs/governance.schema.json"
    schema = json.loads((DOCS / "governance.schema.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    validator.validate(_plain(yaml.safe_load(text)))
    wrong = _plain(yaml.safe_load(text))
    wrong["registries"][0]["scop"] = "payments"
    wrong["registries"][1]["credential"]["expires"] = "2025-13-01"
    messages = [m for e in validator.iter_errors(wrong) for m in _messages(e)]
    assert any("'scop' was unexpected" in m for m in messages)
    assert any("is not a 'date'" in m for m in messages)


def test_the_schema_is_the_models() -> None:
    schema = governance_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == {f.alias or n for n, f in GovernanceDocument.model_fields.items()}
    assert schema["additionalProperties"] is False
