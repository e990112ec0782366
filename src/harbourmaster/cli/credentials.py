"""``credentials expiring``."""

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
from harbourmaster.services.credentials import expiring_credentials, parse_duration
from harbourmaster.services.results import json_of

app = typer.Typer(
    cls=GuardedGroup, help="Registry credentials (write-only: never shown).", no_args_is_help=True
)


@app.command()
def expiring(
    within: str = typer.Option("14d", "--within", help="Horizon, e.g. 14d, 2w, 36h."),
    json_output: bool = JsonOption,
) -> None:
    """List credentials that expire within the horizon (or already have)."""
    hm = open_core()
    rows = expiring_credentials(hm, local_principal(hm), within=parse_duration(within))
    if json_output:
        emit_json(json_of(rows))
        return
    print_table(
        f"credentials expiring within {within}",
        ["registry", "kind", "username", "expires", "days left"],
        [
            (r.registry, r.kind, r.username, r.expires.isoformat(), "EXPIRED" if r.expired else r.days_left)
            for r in rows
        ],
        whole={"registry", "username"},
    )
