"""``apply``, ``export`` and ``check``: the declarative model and decisions."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from harbourmaster.cli._common import (
    ExitCode,
    GuardedGroup,
    JsonOption,
    emit_json,
    local_principal,
    open_core,
    print_table,
    read_input,
    stderr,
    stdout,
)
from harbourmaster.errors import BadInput

if TYPE_CHECKING:
    from harbourmaster.services.results import DecisionPublic

app = typer.Typer(cls=GuardedGroup)


@app.command()
def apply(
    file: str = typer.Option(..., "-f", "--file", help="Governance YAML file, or - for standard input."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the changes without making them."),
    prune: bool = typer.Option(False, "--prune", help="Remove what the file no longer names."),
    json_output: bool = JsonOption,
) -> None:
    """Make the governance model match FILE, idempotently, in one transaction.

    A bad file gets every problem with its path (schema, values and references together) and
    nothing is written: exit 2.
    """
    from harbourmaster.services.apply import apply_document
    from harbourmaster.services.results import json_of

    text, source = read_input(file)
    hm = open_core()
    result = apply_document(
        hm, local_principal(hm), text, source=source, dry_run=dry_run, prune=prune, host=hm.host_files()
    )
    if json_output:
        emit_json(json_of(result))
        return
    for line in result.changes:
        stdout.print(line, markup=False, highlight=False)
    if not result.changes:
        stdout.print("no changes: the model already matches the file")
    elif dry_run:
        stdout.print(f"dry run: {len(result.changes)} change(s) not applied")
    else:
        stdout.print(f"applied {len(result.changes)} change(s); model revision {result.revision}")


@app.command()
def export(output: str = typer.Option("-", "-o", "--output", help="File to write, or - for stdout.")) -> None:
    """Write the current model as governance YAML (without secrets)."""
    from harbourmaster.services.export import export_model

    hm = open_core()
    text = export_model(hm, local_principal(hm))
    if output == "-":
        sys.stdout.write(text)
        return
    target = Path(output)
    fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _digest_cell(row: DecisionPublic) -> str:
    if row.digest is not None:
        return row.digest
    return "unknown" if row.digest_error else "-"


def _part_cells(row: DecisionPublic) -> list[str]:
    if row.verdict is None:
        return ["-", "-"]
    return [row.verdict.vulnerabilities.status, row.verdict.signature.status]


@app.command()
def check(
    images: list[str] = typer.Argument(None, help="Image references to check."),
    env: str = typer.Option(..., "--env", help="Target environment."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Kubernetes namespace."),
    user: str | None = typer.Option(None, "--user", "-u", help="User (docker-standalone, swarm)."),
    file: str | None = typer.Option(
        None, "-f", "--file", help="Kubernetes YAML or compose file (- for stdin)."
    ),
    no_resolve: bool = typer.Option(
        False, "--no-resolve", help="Do not pin allowed images to their current digest."
    ),
    require_digest: bool = typer.Option(
        False,
        "--require-digest",
        help="Exit 3 when an allowed image cannot be pinned to a digest "
        "(registry unreachable, credential refused...).",
    ),
    source_only: bool = typer.Option(
        False,
        "--source-only",
        help="Decide the image source only (registry, grant, tier rules), without the "
        "vulnerability and signature parts of the verdict.",
    ),
    json_output: bool = JsonOption,
) -> None:
    """May these images be deployed? Exit 0: all allowed; 1: any denied; 2: bad input; 3: could not decide.

    Each image gets the image policy verdict: its source (approved registry, grant, tier rules),
    the vulnerabilities of its digest (the latest kept scan, judged by the tier; an unscanned image
    per the tier's unscanned rule) and its signature (when the tier requires one).  It is allowed
    only when all three allow it; --source-only decides the source alone.

    Allowed tags are pinned to the digest they point to now.  When a registry does not
    answer, each image left unpinned is named on standard error (and has a digest_error
    in --json); with --require-digest that exits 3, unless an image is denied (exit 1).
    """
    from harbourmaster.services.decisions import check_deployment
    from harbourmaster.services.results import json_of

    if require_digest and no_resolve:
        raise BadInput("--require-digest needs digest pinning: drop --no-resolve")
    text, source = read_input(file) if file is not None else (None, "command line")
    hm = open_core()
    outcome = check_deployment(
        hm,
        local_principal(hm),
        environment=env,
        images=list(images) if images else None,
        content=text,
        source=source,
        namespace=namespace,
        user=user,
        resolve=not no_resolve,
        origin=None if file in (None, "-") else Path(file),
        source_only=source_only,
    )
    rows, build_only = outcome.decisions, outcome.build_only
    for r in rows:
        if r.digest_error:
            stderr.print(
                f"warning: {r.image}: not pinned to a digest: {r.digest_error}",
                markup=False,
                highlight=False,
            )
    if json_output:
        emit_json(json_of(rows))
    else:
        # Content rows also say how each image was found (known place, fallback, not understood).
        found = ["found"] if file is not None else []
        parts = [] if source_only else ["vulnerabilities", "signature"]
        print_table(
            None,
            ["image", "allowed", "registry", "digest", *found, *parts, "reasons"],
            [
                (
                    r.image or "(none)",
                    "yes" if r.allowed else "NO",
                    r.registry or "-",
                    _digest_cell(r),
                    *([str(r.extraction)] if found else []),
                    *(_part_cells(r) if parts else []),
                    "; ".join(r.reasons),
                )
                for r in rows
            ],
            whole={"image", "registry", "digest"},
        )
        if file is not None and not rows:
            stdout.print(f"{file}: no image to check", markup=False)
        for service in build_only:
            stdout.print(f"service {service} is built locally (no image to check)", markup=False)
    if not all(r.allowed for r in rows):
        raise typer.Exit(int(ExitCode.REFUSED))
    unpinned = [str(r.image) for r in rows if r.allowed and not r.digest]
    if require_digest and unpinned:
        stderr.print(
            f"error: --require-digest: {len(unpinned)} allowed image(s) not pinned to a digest: "
            + ", ".join(unpinned),
            markup=False,
            highlight=False,
        )
        raise typer.Exit(int(ExitCode.UNDECIDED))
