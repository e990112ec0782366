"""``token create``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from harbourmaster.cli._common import guard, open_core, stderr
from harbourmaster.errors import BadInput
from harbourmaster.services.credentials import parse_duration
from harbourmaster.services.tokens import create_token

app = typer.Typer(help="API bearer tokens.", no_args_is_help=True)


@app.command()
@guard
def create(
    user: str = typer.Option(..., "--user", help="The user the token acts as."),
    name: str = typer.Option("cli", "--name", help="A label for the token."),
    expires_in: str | None = typer.Option(None, "--expires-in", help="Lifetime, e.g. 30d; default: none."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the token to this file (0600)."),
) -> None:
    """Create a bearer token; it is shown once (or written to --output) and stored only hashed."""
    lifetime = parse_duration(expires_in, field="--expires-in") if expires_in else None
    hm = open_core()
    issued = create_token(hm, user=user, name=name, actor=hm.local_actor(), lifetime=lifetime)
    if output is None:
        sys.stdout.write(issued.token.reveal() + "\n")
        stderr.print("this token is shown once; store it now", markup=False)
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise BadInput(f"--output {output}: cannot write: {exc.strerror}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(issued.token.reveal() + "\n")
    os.chmod(output, 0o600)
    stderr.print(f"token for {user} written to {output}", markup=False)
