"""dpkg: parse status files; the installed set matches dpkg-query's for the same database."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from harbourmaster.supply.sbom.catalogers.dpkg import PRESENT_STATES, parse_dpkg_status
from tests.components import ensure_binary

# dpkg's db:Status-Abbrev status letters for states whose files are on disk.
PRESENT_ABBREV = {"i", "U", "F", "H", "W", "t"}

MIXED = """Package: kept
Status: install ok installed
Maintainer: Test <t@example.org>
Description: test
Architecture: amd64
Version: 1:2.3-4
Source: upstream-kept (2.3-3)
Conffiles:
 /etc/kept.conf 0123456789abcdef0123456789abcdef

Package: gone-but-configs
Status: deinstall ok config-files
Maintainer: Test <t@example.org>
Description: test
Architecture: amd64
Version: 1.0

Package: half
Status: install reinstreq half-installed
Maintainer: Test <t@example.org>
Description: test
Architecture: all
Version: 0.1

Package: unpacked
Status: install ok unpacked
Maintainer: Test <t@example.org>
Description: test
Architecture: amd64
Version: 2.0
Source: srcname

Package: trig
Status: install ok triggers-pending
Maintainer: Test <t@example.org>
Description: test
Architecture: amd64
Version: 3
Triggers-Pending: ldconfig

Package: never
Status: purge ok not-installed
Maintainer: Test <t@example.org>
Description: test
Architecture: amd64

"""


def dpkg_query(admindir: Path) -> list[tuple[str, str, str]]:
    binary = ensure_binary("dpkg-query", "dpkg")
    out = subprocess.run(
        [binary, f"--admindir={admindir}", "-W", "-f=${db:Status-Abbrev}\t${Package}\t${Version}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [tuple(line.split("\t")) for line in out.splitlines()]  # type: ignore[misc]


def make_admindir(tmp_path: Path, status: str) -> Path:
    admin = tmp_path / "dpkg"
    (admin / "info").mkdir(parents=True)
    (admin / "updates").mkdir()
    (admin / "status").write_text(status)
    return admin


def test_states_match_dpkg_query_on_a_mixed_database(tmp_path: Path) -> None:
    admin = make_admindir(tmp_path, MIXED)
    oracle = {(name, version) for abbrev, name, version in dpkg_query(admin) if abbrev[1] in PRESENT_ABBREV}
    packages, warnings = parse_dpkg_status(MIXED, path="/var/lib/dpkg/status")
    assert {(p.name, p.version) for p in packages} == oracle
    assert {p.name for p in packages} == {"kept", "half", "unpacked", "trig"}
    assert warnings == []
    kept = next(p for p in packages if p.name == "kept")
    assert (kept.source_package, kept.source_version, kept.arch) == ("upstream-kept", "2.3-3", "amd64")
    unpacked = next(p for p in packages if p.name == "unpacked")
    assert (unpacked.source_package, unpacked.source_version) == ("srcname", "2.0")


def test_this_machines_database_matches_dpkg_query(tmp_path: Path) -> None:
    status = Path("/var/lib/dpkg/status").read_text()
    admin = make_admindir(tmp_path, status)
    oracle = sorted((n, v) for a, n, v in dpkg_query(admin) if a[1] in PRESENT_ABBREV)
    packages, _ = parse_dpkg_status(status, path="/var/lib/dpkg/status")
    assert sorted((p.name, p.version) for p in packages) == oracle
    assert len(oracle) > 100


def test_present_states_are_the_documented_ones() -> None:
    assert {
        "installed",
        "unpacked",
        "half-configured",
        "half-installed",
        "triggers-awaited",
        "triggers-pending",
    } == PRESENT_STATES


def test_stanzas_without_a_package_or_with_a_bad_status_are_warnings() -> None:
    packages, warnings = parse_dpkg_status("Version: 1\n\nPackage: x\nStatus: installed\n", path="/s")
    assert packages == []
    assert len(warnings) == 2


_names = st.from_regex(r"[a-z0-9][a-z0-9+.-]{0,15}", fullmatch=True)
_versions = st.from_regex(r"([0-9]:)?[0-9][A-Za-z0-9.+~]{0,8}(-[A-Za-z0-9.+~]{1,6})?", fullmatch=True)
_states = st.sampled_from(
    [
        "installed",
        "config-files",
        "unpacked",
        "half-configured",
        "not-installed",
        "triggers-awaited",
        "half-installed",
    ]
)


@given(st.lists(st.tuples(_names, _versions, _states), max_size=8, unique_by=lambda t: t[0]))
def test_status_files_round_trip(entries: list[tuple[str, str, str]]) -> None:
    text = "".join(
        f"Package: {n}\nStatus: install ok {s}\nVersion: {v}\nDescription: x\n multi\n line\n\n"
        for n, v, s in entries
    )
    packages, warnings = parse_dpkg_status(text, path="/s")
    assert [(p.name, p.version) for p in packages] == [(n, v) for n, v, s in entries if s in PRESENT_STATES]
    assert warnings == []


@given(st.text(max_size=500))
def test_arbitrary_text_never_crashes(text: str) -> None:
    packages, _warnings = parse_dpkg_status(text, path="/s")
    assert all(p.name for p in packages)
