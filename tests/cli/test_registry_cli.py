"""``registry test|browse``, ``resolve`` and ``check --no-resolve`` on the example model.

These cover what the CLI decides before any registry is asked (exit codes,
messages, refusals) and that a decision never fails because its registry cannot
be reached.  Against real registries: tests/integration/test_registry_operations.py.
"""

from __future__ import annotations

import json
from typing import Any

from harbourmaster.services.registry_digests import clear_registry_caches

DIGEST = "sha256:" + "0f" * 32


def _audit(cli: Any, action: str) -> list[dict[str, Any]]:
    out = cli("audit", "export")
    assert out.exit_code == 0
    # The export ends with a checkpoint line ("type": "audit.checkpoint"), not a record.
    return [r for r in map(json.loads, out.stdout.splitlines()) if r.get("action") == action]


def test_registry_test_and_browse_input_errors(cli, applied) -> None:  # type: ignore[no-untyped-def]
    unknown = cli("registry", "test", "nope")
    assert unknown.exit_code == 2 and "registry nope is not defined" in unknown.stderr
    no_catalog = cli("registry", "browse", "ghcr-tools")
    assert no_catalog.exit_code == 2
    assert "no catalog endpoint" in no_catalog.stderr and "browse ghcr-tools REPOSITORY" in no_catalog.stderr
    outside = cli("registry", "browse", "harbor-payments", "web/app:1")
    assert outside.exit_code == 2 and "outside the scope payments" in outside.stderr
    malformed = cli("registry", "browse", "harbor-payments", "payments/app@sha256:short")
    assert malformed.exit_code == 2 and "sha256:short" in malformed.stderr
    assert _audit(cli, "credential.use") == []  # nothing was opened for refused input


def test_resolve_exit_codes_and_output(cli, applied) -> None:  # type: ignore[no-untyped-def]
    image = f"harbor.corp/payments/api@{DIGEST}"
    ok = cli("resolve", image, "--env", "prod-eu", "--namespace", "payments")
    assert ok.exit_code == 0 and ok.stdout.strip() == DIGEST
    as_json = json.loads(cli("resolve", image, "--env", "prod-eu", "--json").stdout)
    assert as_json == {
        "image": image,
        "normalized": image,
        "environment": "prod-eu",
        "tenant": "namespace payments",
        "registry": "harbor-payments",
        "repository": "harbor.corp/payments/api",
        "reference": DIGEST,
        "digest": DIGEST,
    }
    refused = cli("resolve", image, "--env", "prod-eu", "--namespace", "web")
    assert refused.exit_code == 1 and "no registry granted to namespace web" in refused.stderr
    assert "harbor-payments matches but is not granted" in refused.stderr
    assert cli("resolve", "Harbor.corp/UPPER", "--env", "prod-eu").exit_code == 2
    assert cli("resolve", image, "--env", "nowhere").exit_code == 2
    both = cli("resolve", image, "--env", "prod-eu", "--namespace", "payments", "--user", "x")
    assert both.exit_code == 2 and "not both" in both.stderr
    assert [r["result"] for r in _audit(cli, "resolve")] == ["ok", "ok"]


def test_check_pins_digest_references_and_no_resolve_skips_registries(cli, applied) -> None:  # type: ignore[no-untyped-def]
    clear_registry_caches()
    by_digest = f"harbor.corp/payments/api@{DIGEST}"
    tagged = "harbor.corp/payments/api:1.4"
    args = ("check", "--env", "prod-eu", "--source-only", "--namespace", "payments")
    skipped = cli(*args, by_digest, tagged, "--no-resolve", "--json")
    assert skipped.exit_code == 0
    assert [r["digest"] for r in json.loads(skipped.stdout)] == [DIGEST, None]
    assert _audit(cli, "credential.use") == []
    # harbor.corp cannot be reached from a test: the decision stands, the reason is recorded.
    resolved = cli(*args, by_digest, tagged, "--json")
    assert resolved.exit_code == 0
    rows = json.loads(resolved.stdout)
    assert [r["allowed"] for r in rows] == [True, True] and rows[0]["digest"] == DIGEST
    recorded = _audit(cli, "decision")[-1]["details"]["images"]
    assert recorded[0]["digest"] == DIGEST and "digest_error" not in recorded[0]
    assert recorded[1]["digest"] == rows[1]["digest"]
    if rows[1]["digest"] is None:
        assert "harbor.corp" in recorded[1]["digest_error"]
    human = cli(*args, by_digest)
    # The table shows the short form (rich may shorten it further in a narrow terminal).
    assert human.exit_code == 0 and "digest" in human.stdout and "sha256:0f0f" in human.stdout
    denied = cli(*args, "evil.corp/x:1", "--json")
    assert denied.exit_code == 1 and json.loads(denied.stdout)[0]["digest"] is None
    clear_registry_caches()
