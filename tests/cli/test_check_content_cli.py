"""``check -f``: deployment content that is not understood is denied (exit 1), never allowed."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

UNKNOWN = """\
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: payments}
spec:
  template: {spec: {containers: [{name: c, imageRef: "evil.io/x:1"}]}}
"""


def test_content_not_understood_exits_1_with_the_reason(cli, applied, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    manifest = tmp_path / "widget.yaml"
    manifest.write_text(UNKNOWN)
    result = cli("check", "--env", "prod-eu", "-f", str(manifest), "--json")
    assert result.exit_code == 1, result.output
    (row,) = json.loads(result.stdout)
    assert row["image"] is None and row["allowed"] is False and row["extraction"] == "not-understood"
    assert row["source"] == "example.com/v1 Widget/w in namespace payments (document 1)"
    assert row["field_path"] == "spec.template.spec.containers"
    assert "does not understand this object" in row["reasons"][0]
    monkeypatch.setenv("COLUMNS", "1000")  # one table row per line
    table = cli("check", "--env", "prod-eu", "-f", str(manifest))
    assert table.exit_code == 1
    assert "not-understood" in table.stdout and "does not understand this object" in table.stdout
    assert "(none)" in table.stdout

    # Once the kind is listed under content.ignore_kinds, the object is no longer denied.
    doc = yaml.safe_load(applied.read_text())
    doc["content"] = {"ignore_kinds": [{"apiVersion": "example.com/*", "kind": "Widget"}]}
    governance = tmp_path / "governance.yaml"
    governance.write_text(yaml.safe_dump(doc))
    changed = cli("apply", "-f", str(governance))
    assert changed.exit_code == 0, changed.output
    assert "+ content.ignore_kinds example.com/* Widget" in changed.stdout
    allowed = cli("check", "--env", "prod-eu", "-f", str(manifest))
    assert allowed.exit_code == 0, allowed.output
    assert "no image to check" in allowed.stdout


def test_fallback_and_image_volume_images_are_checked(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    manifest = tmp_path / "mixed.yaml"
    manifest.write_text("""\
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: payments}
spec:
  containers: [{name: app, image: "harbor.corp/payments/api:1"}]
  volumes: [{name: models, image: {reference: "evil.io/models:1"}}]
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t, namespace: payments}
spec:
  steps: [{name: s, image: "harbor.corp/payments/builder:1"}]
""")
    result = cli("check", "--env", "prod-eu", "--source-only", "-f", str(manifest), "--json", "--no-resolve")
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)
    assert [(r["image"], r["allowed"], r["extraction"]) for r in rows] == [
        ("harbor.corp/payments/api:1", True, "known"),
        ("evil.io/models:1", False, "known"),
        ("harbor.corp/payments/builder:1", True, "fallback"),
    ]
    assert rows[1]["source"] == "Pod/p in namespace payments volume models (document 1)"
    table = cli("check", "--env", "prod-eu", "--source-only", "-f", str(manifest), "--no-resolve")
    assert "found" in table.stdout and "fallback" in table.stdout


def test_compose_include_from_a_file_and_from_stdin(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    compose = tmp_path / "compose.yaml"
    compose.write_text("include: [lib/tools.yaml]\nservices:\n  web: {image: 'ghcr.io/corp-tools/web:1'}\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "tools.yaml").write_text("services:\n  miner: {image: 'evil.io/miner:1'}\n")
    args = ("check", "--env", "dev-docker", "--user", "payments-dev")
    result = cli(*args, "-f", str(compose), "--json", "--no-resolve")
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)
    assert [(r["image"], r["allowed"]) for r in rows] == [
        ("ghcr.io/corp-tools/web:1", True),
        ("evil.io/miner:1", False),
    ]
    assert str(tmp_path / "lib" / "tools.yaml") in rows[1]["source"]
    missing = tmp_path / "broken.yaml"
    missing.write_text("include: [nowhere.yaml]\nservices: {}\n")
    broken = cli(*args, "-f", str(missing))
    assert broken.exit_code == 2 and "include[0]: cannot read nowhere.yaml" in broken.stderr
    piped = cli(*args, "-f", "-", input=compose.read_text())
    assert piped.exit_code == 2
    assert "include[0]: 'lib/tools.yaml' cannot be followed" in piped.stderr


def test_compose_interpolation_is_denied(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  web: {image: 'ghcr.io/corp-tools/web:${TAG}'}\n")
    result = cli("check", "--env", "dev-docker", "--user", "payments-dev", "-f", str(compose), "--json")
    assert result.exit_code == 1, result.output
    (row,) = json.loads(result.stdout)
    assert row["allowed"] is False and "contains ${TAG}" in row["reasons"][0]
