"""``sbom attach|fetch|list`` and ``sbom generate IMAGE``: arguments, errors, quiet output, the store table.

The end-to-end runs against the real registry are in tests/integration/test_sbom_registry.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.sboms import store_sbom
from harbourmaster.supply.sbom import SbomFormat, default_catalogers, scan_image
from tests.supply._images import file, image


def test_help_names_every_command_and_option(cli: Any) -> None:
    top = cli("sbom", "--help")
    assert top.exit_code == 0
    for command in ("generate", "attach", "fetch", "list"):
        assert command in top.stdout
    attach = cli("sbom", "attach", "--help")
    assert attach.exit_code == 0
    for option in ("--format", "--env", "--platform", "--regenerate", "--json"):
        assert option in attach.stdout
    fetch = cli("sbom", "fetch", "--help")
    assert all(o in fetch.stdout for o in ("--format", "--output", "--platform"))
    assert "--digest" in cli("sbom", "list", "--help").stdout


def test_a_reference_that_is_not_an_image(cli: Any, applied: Path) -> None:
    result = cli("sbom", "generate", "Not A Reference")
    assert result.exit_code == 2
    assert "'Not A Reference' is not an image source" in result.stderr
    assert "invalid character" in result.stderr


@pytest.mark.parametrize("command", ["generate", "attach", "fetch"])
def test_an_image_in_no_approved_registry_is_refused_before_any_connection(cli: Any, applied: Path,
                                                                         command: str) -> None:
    result = cli("sbom", command, "unknown.example:5000/team/app:1")
    assert result.exit_code == 2
    assert "unknown.example:5000/team/app:1 is in no approved registry" in result.stderr
    audit = [json.loads(x) for x in cli("audit", "export").stdout.splitlines() if x.strip()]
    audit = [r for r in audit if r.get("type") != "audit.checkpoint"]
    assert not [r for r in audit if r["action"].startswith("sbom.") or r["action"] == "credential.use"]


def test_a_registry_that_does_not_answer(cli: Any, applied: Path) -> None:
    """dev-local (http://127.0.0.1:5000) has nothing listening: a registry error, audited as failed."""
    result = cli("sbom", "fetch", "127.0.0.1:5000/team/app:1")
    assert result.exit_code == 3  # could not decide: a dependency (the registry) failed
    assert "127.0.0.1:5000" in result.stderr and "refused" in result.stderr
    audit = [json.loads(x) for x in cli("audit", "export").stdout.splitlines() if x.strip()]
    audit = [r for r in audit if r.get("type") != "audit.checkpoint"]
    fetches = [(r["action"], r["result"]) for r in audit if r["action"] == "sbom.fetch"]
    assert fetches == [("sbom.fetch", "failed")]


def test_list_shows_the_store(cli: Any, applied: Path) -> None:
    assert json.loads(cli("sbom", "list", "--json").stdout) == []
    hm = Harbourmaster.from_environ()
    sbom = scan_image(image([file("usr/lib/python3/dist-packages/hm_cli-1.0.dist-info/METADATA",
                                  "Metadata-Version: 2.1\nName: hm-cli\nVersion: 1.0\n")]),
                      catalogers=default_catalogers())
    stored = store_sbom(hm, sbom, fmt=SbomFormat.SPDX_JSON, actor="tests")
    listed = json.loads(cli("sbom", "list", "--json").stdout)
    assert [(r["image_digest"], r["format"], r["component_count"]) for r in listed] == [
        (sbom.image.digest, "spdx-json", 1)]
    assert json.loads(cli("sbom", "list", "--digest", "sha256:" + "0" * 64, "--json").stdout) == []
    table = cli("sbom", "list")
    assert table.exit_code == 0
    assert "spdx-json" in table.stdout and "generated" in table.stdout  # cells wrap at 80 columns
    assert stored.id == listed[0]["id"]
