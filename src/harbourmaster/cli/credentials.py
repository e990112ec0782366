"""``credentials expiring`` and ``credentials rotate``."""

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
from harbourmaster.cli._exit import ExitCode
from harbourmaster.services.credentials import expiring_credentials, parse_duration
from harbourmaster.services.results import json_of
from harbourmaster.services.robot_rotation import rotate_credential

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


@app.command()
def rotate(
    registry: str = typer.Argument(..., help="A managed Harbor registry (manage: true)."),
    robot: str | None = typer.Option(None, "--robot", help="Only this robot (default: every one)."),
    refresh: bool = typer.Option(
        False,
        "--refresh",
        help="Have Harbor refresh the secret in place (same robot, old secret refused at once) instead "
        "of replacing the robot (the old one keeps working for a grace period).",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Rotate a managed registry's robot accounts; the new secrets go straight into the vault."""
    hm = open_core()
    result = rotate_credential(hm, local_principal(hm), registry, robot=robot, refresh=refresh)
    if json_output:
        emit_json(json_of(result))
    else:
        print_table(
            f"robot rotation of {result.registry} ({result.mode})",
            ["robot", "outcome", "username", "expires", "old one retires", "reason"],
            [
                (
                    r.robot,
                    r.outcome,
                    r.username,
                    r.expires.isoformat() if r.expires else "never",
                    r.retires_old_at.isoformat() if r.retires_old_at else "",
                    r.reason or "",
                )
                for r in result.robots
            ],
            whole={"username", "reason"},
        )
    if result.failed:
        # Harbor refused: the old secrets are kept and still work.
        raise typer.Exit(int(ExitCode.UNDECIDED))
