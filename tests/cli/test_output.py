"""Output for people: tables as wide as the terminal, nothing cut that there is room for."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harbourmaster.cli import _common
from harbourmaster.cli._common import print_table

DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = "harbor.corp/payments/some-rather-long-service-name/api-gateway:1.4.2-rc.1"
REASONS = (
    "registry harbor-payments matches harbor.corp/payments/some-rather-long-service-name/api-gateway "
    "and is granted to namespace payments on environment prod-eu"
)


def render(monkeypatch: pytest.MonkeyPatch, *, width: int, terminal: bool) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, force_terminal=terminal, color_system=None, soft_wrap=True)
    monkeypatch.setattr(_common, "stdout", console)
    print_table(
        None,
        ["image", "allowed", "registry", "digest", "reasons"],
        [(IMAGE, "yes", "harbor-payments", DIGEST, REASONS)],
        whole={"image", "registry", "digest"},
    )
    return out.getvalue()


def test_on_a_wide_terminal_names_and_digests_are_whole_and_only_reasons_wrap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = render(monkeypatch, width=220, terminal=True)
    assert "…" not in text
    (row,) = [line for line in text.splitlines() if DIGEST in line]
    assert IMAGE in row and "harbor-payments" in row
    assert max(len(line) for line in text.splitlines()) <= 220
    assert REASONS not in text  # the reasons wrapped to make room
    assert "prod-eu" in text


def test_with_no_room_nothing_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    text = render(monkeypatch, width=80, terminal=True)
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    # Folded, not dropped: every character of the digest is still there, in order.
    column = "".join(line.split("│")[4].strip() for line in text.splitlines() if line.count("│") == 6)
    assert DIGEST in column


def test_not_on_a_terminal_no_line_is_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    text = render(monkeypatch, width=80, terminal=False)
    (row,) = [line for line in text.splitlines() if DIGEST in line]
    assert IMAGE in row and REASONS in row


def test_check_prints_whole_digests(cli: Any, applied: Path) -> None:
    digest = "sha256:" + "b" * 64
    image = f"harbor.corp/payments/api@{digest}"
    result = cli("check", "--env", "prod-eu", "--source-only", "-n", "payments", image)
    assert result.exit_code == 0, result.output
    assert digest in result.stdout and image in result.stdout


def test_registry_show_spells_out_nested_settings(cli: Any, applied: Path) -> None:
    shown = cli("registry", "show", "harbor-payments").stdout
    lines = dict(line.split(":", 1) for line in shown.splitlines() if ":" in line)
    assert lines["scope"].strip() == "payments"
    assert lines["tls"].strip() == "verified against the system's CAs"
    credential = lines["credential"].strip()
    assert credential.startswith("robot robot$payments+deployer, secret set, expires 2028-06-30")
    assert "None" not in shown and "{" not in shown and "True" not in shown and "False" not in shown
    local = cli("registry", "show", "dev-local").stdout
    assert "insecure: plain HTTP or unverified TLS (development tier only)" in local
    assert "credential:       none (anonymous)" in local and "(the whole registry)" in local
    ecr = cli("registry", "show", "ecr-prod").stdout
    assert "region:" in ecr and "eu-west-1" in ecr and "account:" in ecr
    # --json keeps the structure.
    assert json.loads(cli("registry", "show", "dev-local", "--json").stdout)["tls"]["insecure"] is True


def test_check_prints_each_part_of_the_verdict(cli: Any, applied: Path) -> None:
    # Development: unscanned images are allowed (and said so), no signature is required.
    table = cli("check", "--env", "dev-docker", "--user", "tools-dev", "--no-resolve", "nginx:1.27")
    assert table.exit_code == 0, table.output
    header = next(line for line in table.stdout.splitlines() if "vulnerabilities" in line)
    assert "signature" in header and "reasons" in header
    (row,) = [line for line in table.stdout.splitlines() if "nginx" in line]
    assert "unscanned" in row and "not-required" in row
    # Production: the same kind of image, by digest and not asked of the registry, is denied on both counts.
    image = "harbor.corp/payments/api@sha256:" + "d" * 64
    denied = cli("check", "--env", "prod-eu", "-n", "payments", "--no-resolve", image, "--json")
    assert denied.exit_code == 1
    (verdict,) = json.loads(denied.stdout)
    parts = verdict["verdict"]
    assert (parts["vulnerabilities"]["status"], parts["signature"]["status"]) == ("unscanned", "unverified")
    assert parts["signature"]["required"] is True
    source_only = cli("check", "--env", "prod-eu", "-n", "payments", "--no-resolve", "--source-only", image)
    assert source_only.exit_code == 0 and "vulnerabilities" not in source_only.stdout
