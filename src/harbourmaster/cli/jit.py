"""``jit reap``: delete expired just-in-time pull Secrets from an environment's cluster."""

from __future__ import annotations

import typer

from harbourmaster.cli._common import GuardedGroup, JsonOption, emit_json, local_principal, open_core, stdout
from harbourmaster.services.jit import reap_jit_secrets
from harbourmaster.services.results import json_of

app = typer.Typer(cls=GuardedGroup, help="Just-in-time pull Secrets on Kubernetes.", no_args_is_help=True)


@app.command()
def reap(
    env: str = typer.Option(..., "--env", help="The Kubernetes environment (its api_server and token)."),
    json_output: bool = JsonOption,
) -> None:
    """Delete every hm-jit-* pull Secret whose window has ended (left by an interrupted deployment)."""
    hm = open_core()
    result = reap_jit_secrets(hm, local_principal(hm), environment=env)
    if json_output:
        emit_json(json_of(result))
        return
    for secret in result.deleted:
        where = f"{secret.namespace}/{secret.name}"
        stdout.print(f"deleted {where} (expired at {secret.expired_at})", markup=False)
    stdout.print(
        f"{len(result.deleted)} expired just-in-time Secret(s) deleted on {result.environment} "
        f"({result.api_server})",
        markup=False,
    )
