"""``vulndb import|status``, ``scan`` and ``vulns affected``: the advisory database and scanning."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from pathlib import Path

import typer

from harbourmaster.cli._common import (
    GuardedGroup,
    JsonOption,
    emit_json,
    local_principal,
    open_core,
    print_table,
    stdout,
)
from harbourmaster.cli._exit import ExitCode
from harbourmaster.cli._progress import RecordCounter, layer_progress, record_progress
from harbourmaster.domain.findings import Verdict
from harbourmaster.domain.model import Tier
from harbourmaster.domain.severity import Severity
from harbourmaster.errors import BadInput
from harbourmaster.services.results import json_of
from harbourmaster.services.scans import scan_target
from harbourmaster.services.supply_results import ScanResultPublic
from harbourmaster.services.vulns import (
    affected_since,
    import_vulndb,
    parse_since,
    vulndb_state,
)
from harbourmaster.supply.advisories import AdvisorySource, InvalidAdvisory, RawRecord, open_osv
from harbourmaster.supply.scan import OutputFormat

__all__ = ["scan_app", "vulndb_app", "vulns_app"]

vulndb_app = typer.Typer(
    cls=GuardedGroup, help="The advisory database: import OSV exports, show what is loaded."
)
vulns_app = typer.Typer(cls=GuardedGroup, help="Continuous correlation: images that new advisories affect.")
scan_app = typer.Typer(cls=GuardedGroup)


class _Counted(AdvisorySource):
    """An advisory source that counts records as the import reads them (for the progress display)."""

    def __init__(self, inner: AdvisorySource, counter: RecordCounter) -> None:
        self.description = inner.description
        self._inner = inner
        self._counter = counter

    def records(self) -> Iterator[RawRecord | InvalidAdvisory]:
        for record in self._inner.records():
            self._counter()
            yield record


@vulndb_app.command("import")
def vulndb_import(
    path: Path = typer.Argument(
        ..., help="A directory of OSV JSON records, an ecosystem's all.zip, or one .json."
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Refuse the whole import on the first malformed record "
        "(default: skip it, report it and count it).",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Import OSV advisories (incremental: newer 'modified' replaces, withdrawn stops matching), then report
    which stored SBOMs the new advisories newly affect."""
    hm = open_core()
    source = open_osv(path)
    with record_progress(json_output, f"importing {source.description}") as counter:
        result = import_vulndb(hm, local_principal(hm), source=_Counted(source, counter), strict=strict)
    if json_output:
        emit_json(json_of(result))
        return
    r = result  # the import's report fields are the result's own
    stdout.print(
        f"imported {r.source}: {r.records} records, {r.inserted} new, {r.updated} updated, "
        f"{r.unchanged} unchanged, {r.withdrawn} withdrawn, {r.skipped} skipped",
        markup=False,
    )
    for problem in r.problems:
        stdout.print(f"  skipped: {problem}", markup=False, highlight=False)
    for ecosystem, count in sorted(r.unsupported_ecosystems.items()):
        stdout.print(
            f"  {count} record(s) name ecosystem {ecosystem!r}, which is not supported", markup=False
        )
    for image in result.newly_affected:
        ids = ", ".join(sorted({a["id"] for a in image.advisories}))
        stdout.print(f"newly affected: {image.image_name} {image.image_digest}: {ids}", markup=False)


@vulndb_app.command("status")
def vulndb_status_command(json_output: bool = JsonOption) -> None:
    """Advisories per ecosystem, the last import time and the newest 'modified' timestamp."""
    hm = open_core()
    status = vulndb_state(hm, local_principal(hm))
    if json_output:
        emit_json(json_of(status))
        return
    print_table("advisories per ecosystem", ["ecosystem", "advisories"], sorted(status.per_ecosystem.items()))
    stdout.print(
        f"advisories: {status.advisories} ({status.withdrawn} withdrawn); imports: {status.imports}; "
        f"last import: {_moment(status.last_import) or 'never'}; "
        f"newest record: {_moment(status.newest_modified) or '-'}",
        markup=False,
    )


def _moment(text: str | None) -> str | None:
    """An ISO 8601 time from a result, as the table has always shown it (``2026-01-31 12:00:00+00:00``)."""
    return None if text is None else str(dt.datetime.fromisoformat(text))


def _print_table(result: ScanResultPublic) -> None:
    print_table(
        f"{result.target}: {len(result.findings)} finding(s)",
        ["id", "aliases", "package", "installed", "fixed in", "severity", "state", "suppressed", "notes"],
        result.table_rows(),
        whole={"id", "package", "installed", "fixed in"},
    )
    summary = result.summary
    stdout.print(
        f"components: {summary.components} ({summary.unsupported_components} without an "
        f"advisory ecosystem); suppressed: {summary.suppressed}",
        markup=False,
    )
    for warning in result.warnings[:20]:
        stdout.print(f"warning: {warning}", markup=False, highlight=False)
    if result.verdict is not None:
        colour = {Verdict.BLOCK: "red", Verdict.ALLOW_WITH_ADVISORY: "yellow", Verdict.ALLOW: "green"}
        verdict = result.verdict
        stdout.print(
            f"[bold {colour[Verdict(verdict.verdict)]}]{result.environment or 'tier'} ({verdict.tier}): "
            f"{verdict.verdict}[/] - ",
            end="",
        )
        stdout.print(verdict.reason, markup=False)


@scan_app.command("scan")
def scan(
    target: str = typer.Argument(
        ...,
        metavar="TARGET",
        help="REGISTRY/REPO@sha256:... (stored SBOM), an SBOM "
        "file (CycloneDX/SPDX JSON), a Trivy or Grype JSON report, oci-layout:DIR\\[:TAG] "
        "or docker-archive:FILE.",
    ),
    env: str | None = typer.Option(
        None,
        "--env",
        help="Judge by this environment's tier (block / allow with advisory / allow); a block exits 1.",
    ),
    tier: Tier | None = typer.Option(
        None,
        "--tier",
        help="Judge by this tier's thresholds, for CI jobs with no environment (the server's, never a "
        "copy); a block exits 1.",
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.TABLE, "--format", help="Output format."),
    fail_on: str | None = typer.Option(
        None,
        "--fail-on",
        help="Exit 1 when an unsuppressed finding is at or above "
        "this severity (critical, high, medium, low, ...).",
    ),
    vex: list[Path] = typer.Option(
        [], "--vex", help="An OpenVEX document; not_affected statements suppress findings (repeatable)."
    ),
    image: str | None = typer.Option(
        None,
        "--image",
        help="The image's reference, when the target does not say "
        "(decides registry-scoped allowlist entries).",
    ),
    no_wait: bool = typer.Option(
        False,
        "--no-wait",
        help="For an image in a registry: queue the scan as a background job and print its id.",
    ),
) -> None:
    """Scan an image or an SBOM against the advisory database.

    Exit 0: nothing fails; 1: a finding at or above --fail-on, or a block verdict; 2: bad input;
    3: could not decide (the registry or the database failed).
    """
    threshold = Severity.parse(fail_on) if fail_on is not None else None
    documents: list[tuple[str, str]] = []
    for path in vex:
        try:
            documents.append((str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"--vex {path}: cannot be read ({exc})") from None
    hm = open_core()
    if no_wait:
        if documents or image or fail_on or (fmt is not OutputFormat.TABLE and fmt is not OutputFormat.JSON):
            raise BadInput("--no-wait queues a registry image's scan: --vex, --image, --fail-on and "
                           "--format sarif|cyclonedx-vex apply to a scan done here")
        from harbourmaster.cli.jobs import print_queued
        from harbourmaster.services.job_requests import submit_image_job

        job = submit_image_job(hm, local_principal(hm), "image.scan", target, environment=env,
                               tier=tier.value if tier is not None else None)
        print_queued(job, fmt is OutputFormat.JSON)
        return
    with layer_progress(fmt is not OutputFormat.TABLE) as bars:
        result = scan_target(
            hm,
            local_principal(hm),
            target=target,
            environment=env,
            tier=tier,
            vex=documents,
            image=image,
            progress=bars,
            fail_on=threshold,
        )
    if fmt is OutputFormat.TABLE:
        _print_table(result)
    else:
        sys.stdout.write(result.render(fmt) + "\n")
    if result.fails:
        raise typer.Exit(ExitCode.REFUSED)


@vulns_app.command("affected")
def affected(
    since: str = typer.Option(
        "7d",
        "--since",
        help="A date/time (2026-01-31, 2026-01-31T12:00:00Z) or a duration back from now (30m, 24h, 7d, 2w).",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Images found newly affected by imported advisories since TIME, each under every repository and tag
    its digest was seen under."""
    hm = open_core()
    images = affected_since(hm, local_principal(hm), since=parse_since(since))
    if json_output:
        emit_json(json_of(images))
        return
    print_table(
        f"images newly affected since {since}",
        ["image", "digest", "first seen", "advisories"],
        [
            (
                "\n".join(i.names),
                i.image_digest,
                dt.datetime.fromisoformat(i.first_seen).isoformat(timespec="seconds"),
                ", ".join(sorted({a["id"] for a in i.advisories})),
            )
            for i in images
        ],
        whole={"image", "digest"},
    )
