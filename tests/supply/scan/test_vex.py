"""OpenVEX statements: which findings they suppress, and malformed documents refused by name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harbourmaster.domain.findings import Finding, FindingPackage, FixState, SuppressedBy
from harbourmaster.domain.severity import Severity
from harbourmaster.supply.scan import VexError, apply_vex, parse_openvex

IMAGE = "pkg:oci/app@sha256%3A" + "a" * 64 + "?repository_url=registry.example/team/app"
LIBSSL = "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"


def _finding(ident: str, purl: str, aliases: tuple[str, ...] = ()) -> Finding:
    return Finding(
        id=ident,
        aliases=aliases,
        package=FindingPackage(name="x", version="1", purl=purl, ecosystem="Debian:12"),
        fixed_versions=(),
        severity=Severity.HIGH,
        state=FixState.NOT_FIXED,
    )


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps(
        {
            "@context": "https://openvex.dev/ns/v0.2.0",
            "@id": "https://example/vex/1",
            "author": "sec team",
            "timestamp": "2026-01-01T00:00:00Z",
            "version": 1,
            "statements": list(statements),
        }
    )


def test_not_affected_for_a_package_purl_suppresses_by_alias() -> None:
    statements = parse_openvex(
        _doc(
            {
                "vulnerability": {"name": "CVE-2024-1", "aliases": ["GHSA-aaaa"]},
                "products": [{"@id": "pkg:deb/debian/libssl3"}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            }
        ),
        source="app.vex.json",
    )
    findings = apply_vex(
        [
            _finding("DSA-1", LIBSSL, aliases=("CVE-2024-1",)),
            _finding("DSA-2", LIBSSL, aliases=("CVE-2024-2",)),
        ],
        statements,
        image_ids=[IMAGE],
    )
    assert findings[0].suppressed_by is SuppressedBy.VEX
    assert findings[0].notes == ("VEX app.vex.json: not_affected (vulnerable_code_not_in_execute_path)",)
    assert findings[1].suppressed_by is None


def test_the_image_as_product_with_and_without_subcomponents() -> None:
    whole = parse_openvex(
        _doc(
            {
                "vulnerability": {"name": "CVE-1"},
                "products": [{"@id": IMAGE}],
                "status": "not_affected",
                "justification": "component_not_present",
            }
        ),
        source="v",
    )
    assert apply_vex([_finding("CVE-1", LIBSSL)], whole, image_ids=[IMAGE])[0].suppressed
    assert not apply_vex([_finding("CVE-1", LIBSSL)], whole, image_ids=["pkg:oci/other@sha256%3Ab"])[
        0
    ].suppressed
    scoped = parse_openvex(
        _doc(
            {
                "vulnerability": {"name": "CVE-1"},
                "products": [{"@id": "pkg:oci/app", "subcomponents": [{"@id": "pkg:npm/left-pad"}]}],
                "status": "not_affected",
                "justification": "component_not_present",
            }
        ),
        source="v",
    )
    assert not apply_vex([_finding("CVE-1", LIBSSL)], scoped, image_ids=[IMAGE])[0].suppressed
    assert apply_vex([_finding("CVE-1", "pkg:npm/left-pad@1.0.0")], scoped, image_ids=[IMAGE])[0].suppressed


def test_a_later_affected_statement_overrides_and_a_version_must_match() -> None:
    statements = parse_openvex(
        _doc(
            {
                "vulnerability": {"name": "CVE-1"},
                "products": ["pkg:npm/lib"],
                "status": "not_affected",
                "impact_statement": "only used at build time",
            },
            {"vulnerability": {"name": "CVE-1"}, "products": ["pkg:npm/lib@2.0.0"], "status": "affected"},
        ),
        source="v",
    )
    old = apply_vex([_finding("CVE-1", "pkg:npm/lib@1.0.0")], statements, image_ids=[])[0]
    new = apply_vex([_finding("CVE-1", "pkg:npm/lib@2.0.0")], statements, image_ids=[])[0]
    assert old.suppressed_by is SuppressedBy.VEX
    assert "only used at build time" in old.notes[0]
    assert new.suppressed_by is None
    assert new.notes == ("VEX v: affected",)


def test_openvex_0_0_x_string_vulnerabilities_are_read() -> None:
    statements = parse_openvex(
        json.dumps(
            {
                "statements": [
                    {
                        "vulnerability": "CVE-7",
                        "products": ["pkg:npm/lib@1.0.0"],
                        "status": "not_affected",
                        "justification": "inline_mitigations_already_exist",
                    }
                ]
            }
        ),
        source="old",
    )
    assert apply_vex([_finding("CVE-7", "pkg:npm/lib@1.0.0")], statements, image_ids=[])[0].suppressed


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{nope", "v.json: not a JSON OpenVEX document"),
        (json.dumps({"statements": {}}), "v.json: not an OpenVEX document"),
        (
            _doc({"products": ["pkg:npm/a"], "status": "fixed"}),
            "statements[0].vulnerability: a vulnerability name",
        ),
        (
            _doc({"vulnerability": {"name": "C"}, "status": "fixed"}),
            "statements[0].products: a non-empty list",
        ),
        (
            _doc({"vulnerability": {"name": "C"}, "products": ["p"], "status": "fine"}),
            "statements[0].status: 'fine'",
        ),
        (
            _doc({"vulnerability": {"name": "C"}, "products": ["p"], "status": "not_affected"}),
            "statements[0]: a not_affected statement needs a justification",
        ),
        (
            _doc(
                {
                    "vulnerability": {"name": "C"},
                    "products": ["p"],
                    "status": "not_affected",
                    "justification": "trust_me",
                }
            ),
            "statements[0].justification: 'trust_me'",
        ),
        (
            _doc({"vulnerability": {"name": "C"}, "products": [3], "status": "fixed"}),
            "statements[0].products[0]",
        ),
    ],
)
def test_malformed_vex_is_refused_naming_the_field(document: str, message: str) -> None:
    with pytest.raises(VexError) as info:
        parse_openvex(document, source="v.json")
    assert message in info.value.message
