"""``harbor sync``: a managed Harbor's project, security settings and robot accounts from the model."""

from __future__ import annotations

import typer

from harbourmaster.cli._common import (
    GuardedGroup,
    JsonOption,
    emit_json,
    local_principal,
    open_core,
    print_table,
)
from harbourmaster.services.harbor_sync import harbor_sync
from harbourmaster.services.results import json_of

app = typer.Typer(
    cls=GuardedGroup,
    help="Managed Harbor registries (manage: true): projects, security settings, robot accounts.",
    no_args_is_help=True,
)


@app.command()
def sync(
    registry: str = typer.Option(..., "--registry", help="The managed Harbor registry (manage: true)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; change nothing."),
    json_output: bool = JsonOption,
) -> None:
    """Make the Harbor project, its security settings and its robot accounts match the model."""
    hm = open_core()
    result = harbor_sync(hm, local_principal(hm), registry, dry_run=dry_run)
    if json_output:
        emit_json(json_of(result))
        return
    if not result.actions:
        typer.echo(f"harbor project {result.project} of registry {result.registry} is in sync")
        return
    verb = "would change" if dry_run else "changed"
    rows = []
    for action in result.actions:
        if not action.changes:
            rows.append((action.action, action.target, action.reason, ""))
        for change in action.changes:
            rows.append((action.action, action.target, action.reason,
                         f"{change.setting}: {change.current or '(unset)'} -> {change.wanted}"))  # fmt: skip
    print_table(
        f"harbor sync of {result.registry} (project {result.project}): {verb}",
        ["action", "target", "reason", "setting"],
        rows,
        whole={"target", "setting"},
    )
