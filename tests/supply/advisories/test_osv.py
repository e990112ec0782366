"""Parsing OSV records and reading them from exports: severities, errors that name file and field."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.domain.severity import Severity
from harbourmaster.supply.advisories import InvalidAdvisory, RawRecord, open_osv, parse_osv
from harbourmaster.supply.advisories.osv import OsvDirectory, OsvFile, OsvZip
from tests.supply.advisories._osv import (
    CVSS4_HIGH,
    CVSS_CRITICAL,
    CVSS_MEDIUM,
    fixed_at,
    record,
    write_dir,
    write_zip,
)


def test_a_ghsa_record_parses_with_its_cvss_severity_and_aliases() -> None:
    rec = record(
        "GHSA-aaaa-bbbb-cccc",
        "PyPI",
        "Django",
        events=fixed_at("4.2.8"),
        aliases=["CVE-2023-1"],
        cvss=CVSS_CRITICAL,
        label="MODERATE",
    )
    advisory = parse_osv(json.dumps(rec).encode(), where="a.json")
    assert advisory.id == "GHSA-aaaa-bbbb-cccc"
    assert advisory.aliases == ("CVE-2023-1",)
    assert advisory.severity.severity is Severity.CRITICAL  # the vector wins over the label
    assert advisory.severity.score == 9.8
    (entry,) = advisory.affected
    assert entry.name == "django"  # PEP 503 normalised for look-ups
    assert entry.ecosystem == "PyPI"
    assert entry.ecosystem_key == "pypi"
    assert advisory.modified.tzinfo is not None


def test_severity_from_cvss_v4_from_the_database_label_or_unknown() -> None:
    v4 = parse_osv(json.dumps(record("A", "npm", "x", events=fixed_at("1.0.0"), cvss=CVSS4_HIGH)), where="a")
    assert v4.severity.severity is Severity.HIGH
    assert v4.severity.source == "CVSS_V4"
    labelled = parse_osv(
        json.dumps(record("B", "npm", "x", events=fixed_at("1.0.0"), label="moderate")), where="b"
    )
    assert labelled.severity.severity is Severity.MEDIUM
    none = parse_osv(
        json.dumps(record("DEBIAN-CVE-1", "Debian:12", "openssl", events=fixed_at("3.0.1-1"))), where="c"
    )
    assert none.severity.severity is Severity.UNKNOWN
    ubuntu = record("USN-1", "Ubuntu:22.04:LTS", "openssl", events=fixed_at("3.0.2-0ubuntu1.12"))
    ubuntu["severity"] = [{"type": "Ubuntu", "score": "high"}]
    parsed = parse_osv(json.dumps(ubuntu), where="d")
    assert parsed.severity.severity is Severity.HIGH
    assert parsed.affected[0].ecosystem_key == "ubuntu:22.04"


def test_a_withdrawn_record_keeps_its_withdrawal_time() -> None:
    rec = record("GHSA-w", "npm", "left-pad", events=fixed_at("1.0.1"), withdrawn="2024-02-01T00:00:00Z")
    advisory = parse_osv(json.dumps(rec), where="w.json")
    assert advisory.withdrawn is not None
    assert advisory.withdrawn.isoformat() == "2024-02-01T00:00:00+00:00"


def test_an_unknown_ecosystem_is_left_out_and_named() -> None:
    rec = record(
        "X-1",
        "NuGet",
        "Newtonsoft.Json",
        events=fixed_at("13.0.1"),
        extra_affected=[
            {
                "package": {"ecosystem": "npm", "name": "a"},
                "ranges": [{"type": "SEMVER", "events": fixed_at("1.0.0")}],
            }
        ],
    )
    advisory = parse_osv(json.dumps(rec), where="x.json")
    assert advisory.unsupported == ("NuGet",)
    assert [a.name for a in advisory.affected] == ["a"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r.pop("id"), "bad.json: id: is required"),
        (lambda r: r.pop("modified"), "modified: is required"),
        (lambda r: r.update(modified="yesterday"), "modified: 'yesterday' is not an RFC 3339 timestamp"),
        (lambda r: r.update(aliases="CVE-1"), "aliases: must be a list of strings"),
        (lambda r: r.update(affected={}), "affected: must be a list"),
        (lambda r: r["affected"][0].pop("package"), "affected[0].package: is required"),
        (lambda r: r["affected"][0]["package"].update(ecosystem=""), "affected[0].package.ecosystem"),
        (
            lambda r: r["affected"][0]["ranges"][0].update(type="SVN"),
            "affected[0].ranges[0]: unknown range type",
        ),
        (
            lambda r: r["affected"][0]["ranges"][0]["events"].append({"fixed": 3}),
            "affected[0].ranges[0].events[2]: fixed must be a non-empty string",
        ),
        (
            lambda r: r["affected"][0]["ranges"][0]["events"].append({"fixd": "1"}),
            "affected[0].ranges[0].events[2]: unknown event 'fixd'",
        ),
        (
            lambda r: r["affected"][0]["ranges"][0]["events"].append({"fixed": "not a version!"}),
            "affected[0].ranges: invalid dpkg version",
        ),
        (lambda r: r.update(severity=[{"type": "CVSS_V3"}]), "severity[0]: must be an object"),
    ],
)
def test_a_malformed_record_is_refused_naming_the_file_and_the_field(mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    rec = record("DSA-1", "Debian:12", "openssl", events=fixed_at("3.0.1-1"))
    mutate(rec)
    with pytest.raises(InvalidAdvisory) as info:
        parse_osv(json.dumps(rec), where="bad.json")
    assert expected in info.value.message
    assert info.value.message.startswith("bad.json")


def test_text_that_is_not_json_or_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidAdvisory, match=r"junk.json: not valid JSON"):
        parse_osv(b"{not json", where="junk.json")
    with pytest.raises(InvalidAdvisory, match="must be a JSON object"):
        parse_osv(b"[1, 2]", where="list.json")
    with pytest.raises(InvalidAdvisory, match="not valid JSON"):
        parse_osv(b"\xff\xfe\x00", where="binary.json")


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(
                        [
                            "id",
                            "modified",
                            "affected",
                            "package",
                            "ranges",
                            "events",
                            "ecosystem",
                            "name",
                            "severity",
                            "aliases",
                            "versions",
                            "type",
                            "introduced",
                            "fixed",
                        ]
                    ),
                    inner,
                    max_size=5,
                )
            ),
            max_leaves=20,
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_arbitrary_input_gives_an_advisory_or_invalid_advisory_never_a_crash(data: bytes) -> None:
    try:
        parse_osv(data, where="fuzz.json")
    except InvalidAdvisory as exc:
        assert exc.message.startswith("fuzz.json")


def test_a_directory_of_records_and_zips_is_read_in_name_order(tmp_path: Path) -> None:
    write_dir(tmp_path / "d" / "PyPI", [record("B-1", "PyPI", "b", events=fixed_at("1.0"))])
    write_dir(tmp_path / "d", [record("A-1", "PyPI", "a", events=fixed_at("1.0"))])
    write_zip(tmp_path / "d" / "npm.zip", [record("C-1", "npm", "c", events=fixed_at("1.0.0"))])
    source = open_osv(tmp_path / "d")
    assert isinstance(source, OsvDirectory)
    got = list(source.records())
    assert all(isinstance(r, RawRecord) for r in got)
    ids = [json.loads(r.data)["id"] for r in got if isinstance(r, RawRecord)]
    assert ids == ["A-1", "C-1", "B-1"]


def test_a_zip_with_junk_yields_errors_for_the_junk_members_only(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "all.zip",
        [record("GHSA-1", "npm", "x", events=fixed_at("1.0.0"))],
        junk={"README.txt": b"hello", "GHSA-2.json": b"\x00\x01 not json"},
    )
    source = open_osv(path)
    assert isinstance(source, OsvZip)
    got = list(source.records())
    errors = [r for r in got if isinstance(r, InvalidAdvisory)]
    raws = [r for r in got if isinstance(r, RawRecord)]
    assert [e.where for e in errors] == [f"{path}!README.txt"]
    assert "not a .json member" in errors[0].message
    assert len(raws) == 2
    with pytest.raises(InvalidAdvisory, match=r"all.zip!GHSA-2.json: not valid JSON"):
        parse_osv(raws[1].data, where=raws[1].where)


def test_a_file_that_is_not_a_zip_or_a_missing_path_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "all.zip.txt"
    bogus.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(InvalidAdvisory, match=r"neither a zip archive nor a \.json record"):
        open_osv(bogus)
    with pytest.raises(InvalidAdvisory, match="does not exist"):
        open_osv(tmp_path / "missing")
    truncated = tmp_path / "broken.zip"
    write_zip(truncated, [record("A", "npm", "a", events=fixed_at("1.0.0"))])
    truncated.write_bytes(truncated.read_bytes()[:-30])
    with pytest.raises(InvalidAdvisory, match="not a readable zip archive"):
        list(OsvZip(truncated).records())
    single = tmp_path / "one.json"
    single.write_text(
        json.dumps(record("ONE", "Go", "example.com/m", events=fixed_at("1.2.3"), cvss=CVSS_MEDIUM))
    )
    assert isinstance(open_osv(single), OsvFile)


def test_a_zip64_export_is_streamed_member_by_member(tmp_path: Path) -> None:
    """More than 65,535 members needs the ZIP64 records; zipfile's own listing is the oracle."""
    path = tmp_path / "big.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for index in range(65_600):
            archive.writestr(f"R-{index:05d}.json", b"{}")
    with zipfile.ZipFile(path) as oracle:
        expected = oracle.namelist()
    got = list(OsvZip(path).records())
    assert [r.where.rpartition("!")[2] for r in got if isinstance(r, RawRecord)] == expected
    assert {r.data for r in got if isinstance(r, RawRecord)} == {b"{}"}


def test_a_corrupt_central_directory_is_refused(tmp_path: Path) -> None:
    records = [record(f"A-{i}", "npm", "a", events=fixed_at("1.0.0")) for i in range(5)]
    path = write_zip(tmp_path / "all.zip", records)
    data = bytearray(path.read_bytes())
    start = data.rfind(b"PK\x01\x02")  # the last central-directory entry
    data[start : start + 4] = b"XXXX"
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidAdvisory, match="corrupt zip central directory"):
        list(OsvZip(path).records())
