"""``mirror``: copy an ImageSet's images into an approved registry, scanned, signed and audited."""

from __future__ import annotations

from pathlib import Path

import typer

from harbourmaster.cli._common import (
    GuardedGroup,
    JsonOption,
    emit_json,
    local_principal,
    open_core,
    stderr,
    stdout,
)
from harbourmaster.cli._documents import read_text
from harbourmaster.cli._exit import ExitCode
from harbourmaster.cli.jobs import NoWaitOption, print_queued
from harbourmaster.domain.model import Tier

__all__ = ["app"]

app = typer.Typer(cls=GuardedGroup)


@app.command("mirror")
def mirror_command(
    file: Path = typer.Option(..., "-f", "--file", help="The ImageSet YAML file."),
    to: str = typer.Option(..., "--to", help="The approved registry to mirror into (its name)."),
    tier: Tier | None = typer.Option(
        None,
        "--tier",
        help="Judge scans by this tier's thresholds (default: the strictest tier the target registry is "
        "granted to).",
    ),
    no_wait: bool = NoWaitOption,
    json_output: bool = JsonOption,
) -> None:
    """Mirror an ImageSet into a registry: scan, copy with referrers, sign, tag last.

    Images already at the target by digest are skipped; an image the tier blocks is refused with its
    findings and nothing of it is pushed, the others go on. Exit 0: every image copied or skipped;
    1: an image was refused; 2: bad input; 3: a registry or harbourmaster failed.
    """
    from harbourmaster.services.results import json_of

    text = read_text(file, "ImageSet")
    hm = open_core()
    principal = local_principal(hm)
    if no_wait:
        from harbourmaster.services.mirror_jobs import submit_mirror

        print_queued(
            submit_mirror(hm, principal, text, source=str(file), to_registry=to, tier=tier), json_output
        )
        return
    from harbourmaster.services.mirror import mirror

    if json_output or not stderr.is_terminal:
        result = mirror(hm, principal, text, source=str(file), to_registry=to, tier=tier)
    else:
        from rich.progress import BarColumn, Progress, TextColumn

        columns = (BarColumn(), TextColumn("{task.percentage:>3.0f}% {task.description}"))
        with Progress(*columns, console=stderr, transient=False) as bar:
            task = bar.add_task("", total=1.0)

            def update(fraction: float | None = None, message: str | None = None) -> None:
                bar.update(
                    task,
                    completed=fraction if fraction is not None else bar.tasks[0].completed,
                    description=message or "",
                )

            result = mirror(hm, principal, text, source=str(file), to_registry=to, tier=tier, progress=update)
    if json_output:
        emit_json(json_of(result))
    else:
        for image in result.images:
            line = f"{image.outcome:8} {image.source} -> {image.target}"
            if image.tags_set:
                line += f" (tagged {', '.join(image.tags_set)})"
            stdout.print(line, markup=False, highlight=False)
            if image.outcome == "refused":
                stdout.print(
                    f"         {image.verdict_reason}: {', '.join(image.blocking)}",
                    markup=False,
                    highlight=False,
                )
            elif image.scan_note:
                stdout.print(f"         {image.scan_note}", markup=False, highlight=False)
        stdout.print(
            f"{result.copied} copied, {result.skipped} skipped, {result.refused} refused "
            f"(tier {result.tier})",
            markup=False,
            highlight=False,
        )
    if result.refused:
        raise typer.Exit(int(ExitCode.REFUSED))
