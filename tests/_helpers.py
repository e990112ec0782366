"""Small helpers several test packages share: running a CLI command that must succeed, and a critical
finding to keep in a scan."""

from __future__ import annotations

from typer.testing import CliRunner

from harbourmaster.cli.main import app
from harbourmaster.domain.findings import Finding, FindingPackage, FixState
from harbourmaster.domain.severity import Severity

__all__ = ["cli_ok", "critical_finding"]


def cli_ok(*args: str) -> str:
    """Run ``harbourmaster ARGS`` in process; its standard output (the command must exit 0)."""
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def critical_finding(cve: str) -> Finding:
    """A critical finding of ``cve`` in zlib 1.2 (fixed in 1.3), as a kept scan holds it."""
    return Finding(
        id=cve,
        aliases=(),
        package=FindingPackage(
            name="zlib", version="1.2", purl="pkg:deb/debian/zlib@1.2", ecosystem="Debian:12"
        ),
        fixed_versions=("1.3",),
        severity=Severity.CRITICAL,
        state=FixState.FIXED,
    )
