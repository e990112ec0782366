"""``resolve IMAGE --env ENV``: the digest an image reference points to now."""

from __future__ import annotations

import typer

from harbourmaster.cli._common import GuardedGroup, JsonOption, emit_json, local_principal, open_core, stdout

app = typer.Typer(cls=GuardedGroup)


@app.command()
def resolve(
    image: str = typer.Argument(..., help="An image reference, e.g. harbor.corp/team/app:v1."),
    env: str = typer.Option(..., "--env", help="Use the credentials granted on this environment."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Kubernetes namespace."),
    user: str | None = typer.Option(None, "--user", "-u", help="User (docker-standalone, swarm)."),
    json_output: bool = JsonOption,
) -> None:
    """Print the digest IMAGE points to now.

    Exit 1: no registry granted there matches IMAGE; 2: bad input or an unknown name (no such tag
    included); 3: the registry failed (unreachable, credential refused).
    """
    from harbourmaster.services.registry_resolve import resolve_image
    from harbourmaster.services.results import json_of

    hm = open_core()
    resolved = resolve_image(hm, local_principal(hm), image, environment=env, namespace=namespace, user=user)
    if json_output:
        emit_json(json_of(resolved))
        return
    stdout.print(resolved.digest, markup=False, highlight=False)
