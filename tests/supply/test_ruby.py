"""Ruby: this machine's installed gemspecs parsed and checked against `gem list --local`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from harbourmaster.supply.sbom import FileEntry
from harbourmaster.supply.sbom.catalogers import RubyGemCataloger
from harbourmaster.supply.sbom.catalogers.ruby import parse_gemspec
from tests.components import ensure_binary

ROOTS = [Path("/usr/lib/ruby"), Path("/usr/share/rubygems-integration"), Path("/usr/lib/x86_64-linux-gnu")]


def test_installed_gemspecs_match_gem_list() -> None:
    gem = ensure_binary("gem", "ruby")
    out = subprocess.run([gem, "list", "--local"], capture_output=True, text=True, check=True).stdout
    oracle = set()
    for line in out.splitlines():
        match = re.match(r"^(\S+) \((.*)\)$", line)
        assert match, line
        for version in match.group(2).split(", "):
            oracle.add((match.group(1), version.removeprefix("default: ")))
    cataloger = RubyGemCataloger()
    ours = set()
    for root in ROOTS:
        for spec in root.rglob("*.gemspec"):
            entry = FileEntry(path=str(spec), size=spec.stat().st_size, mode=0o644)
            if not cataloger.wants(entry):
                continue
            found = parse_gemspec(spec.read_text(encoding="utf-8", errors="replace"), path=str(spec))
            assert found is not None, spec
            ours.add((found.name, found.version))
    assert ours == oracle
    assert len(ours) > 50
