"""``token create``, ``token list``, ``token revoke``."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

import typer

from harbourmaster.cli._common import (
    GuardedGroup,
    JsonOption,
    emit_json,
    local_principal,
    open_core,
    print_table,
    stderr,
)
from harbourmaster.errors import BadInput
from harbourmaster.services.results import json_of
from harbourmaster.services.tokens import issue_token, list_tokens, parse_token_lifetime, revoke_token

app = typer.Typer(cls=GuardedGroup, help="API bearer tokens.", no_args_is_help=True)


@app.command()
def create(
    user: str = typer.Option(..., "--user", help="The user the token acts as."),
    name: str = typer.Option("cli", "--name", help="A label for the token."),
    expires_in: str = typer.Option(
        "90d", "--expires-in", help="Lifetime, e.g. 30d, 12w, 8h; from 1h to 3650d (10 years)."
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the token to this file (0600)."),
) -> None:
    """Create a bearer token; it is shown once (or written to --output) and stored only hashed."""
    lifetime = parse_token_lifetime(expires_in, field="--expires-in")
    hm = open_core()
    issued = issue_token(hm, local_principal(hm), user=user, name=name, lifetime=lifetime)
    about = f"token {issued.id} for {user}, expires {issued.expires_at.isoformat(timespec='seconds')}"
    if output is None:
        sys.stdout.write(issued.token.reveal() + "\n")
        stderr.print(f"{about}; this token is shown once: store it now", markup=False)
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise BadInput(f"--output {output}: cannot write: {exc.strerror}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(issued.token.reveal() + "\n")
    os.chmod(output, 0o600)
    stderr.print(f"{about}; written to {output}", markup=False)


@app.command("list")
def list_(
    user: str | None = typer.Option(None, "--user", help="Only this user's tokens."),
    json_output: bool = JsonOption,
) -> None:
    """Every token: id, user, name, created, expires, revoked, last used (never the token)."""
    hm = open_core()
    tokens = list_tokens(hm, local_principal(hm), user=user)
    if json_output:
        emit_json(json_of(tokens))
        return

    def when(value: dt.datetime | None) -> str:
        return value.isoformat(timespec="seconds") if value is not None else "never"

    print_table(
        "API tokens",
        ["id", "user", "name", "created", "expires", "status", "last used"],
        [
            (
                t.id,
                t.user,
                t.name,
                when(t.created_at),
                when(t.expires_at),
                "revoked" if t.revoked else "expired" if t.expired else "active",
                when(t.last_used_at),
            )
            for t in tokens
        ],
    )


@app.command()
def revoke(
    token_id: int = typer.Argument(
        ..., metavar="ID", help="The token's id (see 'token list').", min=1, max=2**62
    ),
    json_output: bool = JsonOption,
) -> None:
    """Revoke a token: every later use is refused (and audited as refused)."""
    hm = open_core()
    info = revoke_token(hm, local_principal(hm), token_id=token_id)
    if json_output:
        emit_json(json_of(info))
        return
    stderr.print(f"token {info.id} ({info.user}, {info.name}) is revoked", markup=False)
