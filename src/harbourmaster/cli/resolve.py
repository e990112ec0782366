"""``resolve IMAGE --env ENV``: the digest an image reference points to now."""

from __future__ import annotations

import typer

from harbourmaster.cli._common import JsonOption, emit_json, guard, local_principal, open_core, stdout
from harbourmaster.services.registry_access import resolve_image

app = typer.Typer()


@app.command()
@guard
def resolve(
    image: str = typer.Argument(..., help="An image reference, e.g. harbor.corp/team/app:v1."),
    env: str = typer.Option(..., "--env", help="Use the credentials granted on this environment."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Kubernetes namespace."),
    user: str | None = typer.Option(None, "--user", "-u", help="User (docker-standalone, swarm)."),
    json_output: bool = JsonOption,
) -> None:
    """Print the digest IMAGE points to now. Exit 1: refused or registry failure; 2: bad input."""
    hm = open_core()
    resolved = resolve_image(hm, local_principal(hm), image, environment=env, namespace=namespace, user=user)
    if json_output:
        emit_json(resolved.as_dict())
        return
    stdout.print(resolved.digest, markup=False, highlight=False)
