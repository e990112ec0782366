from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from harbourmaster.api.schemas import RegistryCreate, RegistryUpdate
from harbourmaster.domain.state import Violation
from harbourmaster.services.document import PROVIDER_FIELDS, DocumentInvalid, ProviderFieldsSpec, RegistrySpec
from harbourmaster.services.document_reading import document_order, read_document


def test_every_provider_field_is_known_to_the_document_and_the_api() -> None:
    # registry_from_spec checks each field against PROVIDER_FIELDS: a field missing there would be dropped.
    assert set(PROVIDER_FIELDS) == set(ProviderFieldsSpec.model_fields)
    for model in (RegistrySpec, RegistryCreate, RegistryUpdate):
        assert set(ProviderFieldsSpec.model_fields) <= set(model.model_fields)


# -- reading: every problem at once ----------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "governance.yaml"


def example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def test_an_impossible_date_is_a_problem_with_its_path_not_a_crash() -> None:
    text = EXAMPLE.read_text().replace("expires: 2028-06-30", "expires: 2025-13-01")
    reading = read_document(text, source="t")
    (problem,) = reading.problems
    assert problem.path == "registries[0].credential.expires" and "month" in problem.message
    # The rest of the document is kept, and the broken entry's name is not reported again.
    assert reading.document is not None
    assert [r.name for r in reading.document.registries][:1] == ["harbor-web"]
    assert reading.unchecked.covers("registry", "harbor-payments")
    assert reading.positions["registries"][:2] == (1, 2)


def test_unknown_fields_are_named_with_a_suggestion_when_identifier_shaped() -> None:
    doc = example()
    doc["registry"] = []
    doc["registries"][1]["credential"]["usernam"] = "x"
    doc["tiers"]["production"]["block_severty"] = "high"
    doc["environments"][0]["ghp_16C7e42F292c6912E7710c838347Ae178B4a!"] = "x"
    reading = read_document(yaml.safe_dump(doc), source="t")
    shown = {str(p) for p in reading.problems}
    assert "(document): unknown field 'registry' (did you mean 'registries'?)" in shown
    assert "registries[1].credential: unknown field 'usernam' (did you mean 'username'?)" in shown
    assert "tiers.production: unknown field 'block_severty' (did you mean 'block_severity'?)" in shown
    assert "environments[0]: unknown field <unprintable>" in shown
    assert not any("ghp_" in s for s in shown)


def test_a_section_of_the_wrong_shape_leaves_its_references_unchecked() -> None:
    doc = example()
    doc["environments"] = {"prod-eu": "kubernetes"}
    reading = read_document(yaml.safe_dump(doc), source="t")
    assert [p.path for p in reading.problems] == ["environments"]
    assert reading.unchecked.covers("environment", "anything")
    assert reading.document is not None and reading.document.grants


def test_problems_are_sorted_in_document_order() -> None:
    found = document_order(
        [Violation("grants[2]", "b"), Violation("registries[10].url", "a"), Violation("registries[9]", "c"),
         Violation("registry x", "d")],
        ["registries", "grants"],
    )
    assert [v.path for v in found] == ["registries[9]", "registries[10].url", "grants[2]", "registry x"]


def test_nesting_too_deep_is_a_problem_not_a_crash() -> None:
    with pytest.raises(DocumentInvalid) as caught:
        read_document("a: " + "[" * 5000 + "]" * 5000, source="t")
    assert caught.value.details == ["(document): invalid YAML: nested too deeply"]
