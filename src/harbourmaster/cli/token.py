"""``token create`` (a user's, or a Kubernetes node's with ``--node``), ``token list``, ``token revoke``."""

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
from harbourmaster.services.tokens import (
    issue_node_token,
    issue_token,
    list_tokens,
    parse_token_lifetime,
    revoke_token,
)

app = typer.Typer(cls=GuardedGroup, help="API bearer tokens.", no_args_is_help=True)


@app.command()
def create(
    user: str | None = typer.Option(None, "--user", help="The user the token acts as."),
    node: str | None = typer.Option(
        None,
        "--node",
        help="Instead of --user: a token for this Kubernetes node's kubelet credential provider "
        "(with --env); it may only ask for that environment's pull credentials.",
    ),
    env: str | None = typer.Option(None, "--env", help="The Kubernetes environment of --node."),
    name: str | None = typer.Option(
        None, "--name", help="A label for the token (default: cli, or the node)."
    ),
    expires_in: str = typer.Option(
        "90d", "--expires-in", help="Lifetime, e.g. 30d, 12w, 8h; from 1h to 3650d (10 years)."
    ),
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the token to this file (0600)."),
) -> None:
    """Create a bearer token; it is shown once (or written to --output) and stored only hashed."""
    lifetime = parse_token_lifetime(expires_in, field="--expires-in")
    if (node is None) == (user is None) or (node is None) != (env is None):
        raise BadInput("give --user, or --node with --env (a node token)")
    hm = open_core()
    if node is not None and env is not None:
        issued = issue_node_token(
            hm, local_principal(hm), node=node, environment=env, name=name, lifetime=lifetime
        )
        owner = f"node {node} of environment {env}"
    else:
        assert user is not None
        issued = issue_token(hm, local_principal(hm), user=user, name=name or "cli", lifetime=lifetime)
        owner = user
    about = f"token {issued.id} for {owner}, expires {issued.expires_at.isoformat(timespec='seconds')}"
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
    """Every token: id, user (or node and environment), name, created, expires, revoked, last used
    (never the token)."""
    hm = open_core()
    tokens = list_tokens(hm, local_principal(hm), user=user)
    if json_output:
        emit_json(json_of(tokens))
        return

    def when(value: dt.datetime | None) -> str:
        return value.isoformat(timespec="seconds") if value is not None else "never"

    print_table(
        "API tokens",
        ["id", "user or node", "name", "created", "expires", "status", "last used"],
        [
            (
                t.id,
                t.user if t.node is None else f"node {t.node} ({t.environment})",
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
    owner = info.user if info.node is None else f"node {info.node} of {info.environment}"
    stderr.print(f"token {info.id} ({owner}, {info.name}) is revoked", markup=False)
