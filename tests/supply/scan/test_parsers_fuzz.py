"""Parsers of untrusted documents (OpenVEX, Trivy/Grype reports, SBOMs) give their BadInput or a value,
never another exception, on arbitrary input."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.errors import BadInput
from harbourmaster.supply.scan import components_from_document, parse_openvex, parse_report

KEYS = [
    "statements",
    "vulnerability",
    "name",
    "aliases",
    "products",
    "@id",
    "subcomponents",
    "status",
    "justification",
    "SchemaVersion",
    "Results",
    "Vulnerabilities",
    "VulnerabilityID",
    "PkgName",
    "PkgIdentifier",
    "PURL",
    "matches",
    "artifact",
    "purl",
    "fix",
    "versions",
    "bomFormat",
    "components",
    "spdxVersion",
    "packages",
    "externalRefs",
    "referenceType",
    "referenceLocator",
    "descriptor",
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=12),
    st.sampled_from(["CycloneDX", "not_affected", "pkg:npm/a@1.0.0", "purl", "SPDX-2.3", "fixed"]),
)
DOCS = st.recursive(
    VALUES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=6),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(DOCS.map(json.dumps), st.text(max_size=40)))
def test_untrusted_documents_never_crash(text: str) -> None:
    for parse in (
        lambda t: parse_openvex(t, source="f"),
        lambda t: parse_report(t, where="f"),
        lambda t: components_from_document(t, where="f"),
    ):
        try:
            parse(text)
        except BadInput as exc:
            assert exc.message.startswith("f")
