"""CI's layer: ``scan --tier`` judges by the server's tier thresholds; ``tier show`` and ``policy show``
print the rules and their fingerprint, the same for an environment and its tier."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_vulns_cli import RECORDS, _sbom
from tests.supply.advisories._osv import write_dir


def test_scan_by_tier_judges_as_the_environment_of_that_tier(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("vulndb", "import", str(write_dir(tmp_path / "osv", RECORDS))).exit_code == 0
    sbom = _sbom(tmp_path)
    by_tier = cli("scan", str(sbom), "--tier", "production", "--format", "json")
    by_env = cli("scan", str(sbom), "--env", "prod-eu", "--format", "json")
    assert by_tier.exit_code == by_env.exit_code == 1
    tier_verdict, env_verdict = json.loads(by_tier.stdout)["verdict"], json.loads(by_env.stdout)["verdict"]
    assert tier_verdict == env_verdict and tier_verdict["verdict"] == "block"
    table = cli("scan", str(sbom), "--tier", "production")
    assert table.exit_code == 1 and "tier (production): block" in table.stdout
    development = cli("scan", str(sbom), "--tier", "development", "--format", "sarif")
    assert development.exit_code == 1  # a critical finding blocks on every tier
    assert json.loads(development.stdout)["version"] == "2.1.0"
    both = cli("scan", str(sbom), "--tier", "production", "--env", "prod-eu")
    assert both.exit_code == 2 and "not both" in both.stderr
    unknown = cli("scan", str(sbom), "--tier", "prod")
    assert unknown.exit_code == 2


def test_policy_and_tier_show_the_same_rules_and_fingerprint(cli, applied) -> None:  # type: ignore[no-untyped-def]
    env = json.loads(cli("policy", "show", "--env", "prod-eu", "--json").stdout)
    tier = json.loads(cli("tier", "show", "production", "--json").stdout)
    assert env["fingerprint"] == tier["fingerprint"] and env["fingerprint"].startswith("sha256:")
    assert (env["environment"], tier["environment"]) == ("prod-eu", None)
    assert env["block_severity"] == "high" and env["require_signature"] is True
    staging = json.loads(cli("policy", "show", "--env", "staging-k8s", "--json").stdout)
    assert staging["fingerprint"] != env["fingerprint"]
    text = cli("policy", "show", "--env", "prod-eu")
    assert text.exit_code == 0 and env["fingerprint"] in text.stdout
    assert "no signer is configured" in text.stdout
    typo = cli("policy", "show", "--env", "prod-uu")
    assert typo.exit_code == 2 and "did you mean prod-eu" in typo.stderr
    neither = cli("policy", "show")
    assert neither.exit_code == 2 and "exactly one" in neither.stderr
