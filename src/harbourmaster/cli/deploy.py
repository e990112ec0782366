"""``deploy`` and ``deployments list|show|remove``: deploy what the verdict allows, with just-in-time
registry credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from harbourmaster.cli._common import (
    GuardedGroup,
    JsonOption,
    emit_json,
    local_principal,
    open_core,
    print_table,
    read_input,
    stderr,
    stdout,
)
from harbourmaster.errors import BadInput

deploy_app = typer.Typer(cls=GuardedGroup, help="Deploy a compose file or Kubernetes objects.")
deployments_app = typer.Typer(
    cls=GuardedGroup, help="What harbourmaster deployed: list, show, remove.", no_args_is_help=True
)


def _say(line: str) -> None:
    stdout.print(line, markup=False, highlight=False)


@deploy_app.command()
def deploy(
    env: str = typer.Option(..., "--env", help="The environment to deploy to."),
    namespace: str | None = typer.Option(None, "--namespace", "-n", help="Kubernetes namespace."),
    user: str | None = typer.Option(
        None, "--user", "-u", help="Deploy as this user (docker-standalone, swarm)."
    ),
    file: str = typer.Option(..., "-f", "--file", help="Compose file or Kubernetes YAML (- for stdin)."),
    name: str | None = typer.Option(
        None, "--name", help="The deployment's name (default: the compose project's name, or the file's)."
    ),
    wait: bool = typer.Option(
        False,
        "--wait",
        help="Deploy here and wait until every image is pulled and running; without it the deployment is "
        "queued as a background job (a worker, or serve's embedded one, runs it).",
    ),
    retention: str = typer.Option(
        "keep",
        "--registry-auth-retention",
        help="Swarm: 'none' removes the registry credential from the service specs once every task runs "
        "(a later rescheduling then needs a redeploy through harbourmaster).",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Deploy a compose file or Kubernetes objects, pulled with just-in-time registry credentials.

    Every image is judged by the verdict for the namespace or user, pinned to the digest it checked, and
    pulled with a registry credential that exists only for the pull. Exit 0: deployed (or queued);
    1: an image denied; 2: bad input; 3: the engine, API server or a registry failed."""
    from harbourmaster.services.deployments import deploy_now, request_deployment
    from harbourmaster.services.results import json_of

    if retention not in ("keep", "none"):
        raise BadInput(f"--registry-auth-retention {retention!r}: use keep or none")
    text, source = read_input(file)
    hm = open_core()
    principal = local_principal(hm)
    arguments: dict[str, Any] = {
        "environment": env, "text": text, "source": source, "namespace": namespace, "user": user,
        "name": name, "origin": None if file == "-" else Path(file), "retention": retention,
    }  # fmt: skip
    if not wait:
        accepted = request_deployment(hm, principal, **arguments)
        if json_output:
            emit_json(json_of(accepted))
            return
        _say(accepted.deployment.id)
        stderr.print(
            f"deployment {accepted.deployment.name} ({accepted.deployment.id}) queued as job "
            f"{accepted.job_id}; follow it with: harbourmaster job wait {accepted.job_id}",
            markup=False,
            highlight=False,
        )
        return
    quiet = json_output or not stderr.is_terminal
    if quiet:
        result = deploy_now(hm, principal, **arguments)
    else:
        with stderr.status("deploying") as status:
            result = deploy_now(hm, principal, progress=lambda m: status.update(m), **arguments)
    if json_output:
        emit_json(json_of(result))
        return
    _print(result)


def _print(d: Any) -> None:
    where = f"namespace {d.namespace}" if d.namespace else f"user {d.user}"
    _say(f"deployment {d.name} ({d.id}) on {d.environment}, {where}: {d.state.value}")
    _say(f"verdict {d.verdict_id}")
    for image in d.images:
        pulled = f"as {image.credential}" if image.credential else "anonymously"
        _say(f"  {image.workload}: {image.pinned} (registry {image.registry}, {pulled})")
    result = d.result or {}
    for key in ("created", "recreated", "unchanged", "removed", "applied", "references_kept"):
        if result.get(key):
            _say(f"{key.replace('_', ' ')}: {', '.join(result[key])}")
    if result.get("secret"):
        _say(f"pull Secret {result['secret']} deleted after the rollout pulled")
    for notice in result.get("notices") or []:
        stderr.print(f"notice: {notice}", markup=False, highlight=False)
    if d.error:
        _say(f"error: {d.error}")
    for row in d.live or []:
        _say(f"  {row['name']}: {row['state']} ({row['image']})")
    if d.live_error:
        _say(f"  engine not reachable: {d.live_error}")


@deployments_app.command("list")
def list_(
    env: str | None = typer.Option(None, "--env", help="Only this environment's deployments."),
    json_output: bool = JsonOption,
) -> None:
    """Every deployment: where, for whom, its state."""
    from harbourmaster.services.deployments import list_deployments
    from harbourmaster.services.results import json_of

    hm = open_core()
    rows = list_deployments(hm, local_principal(hm), environment=env)
    if json_output:
        emit_json(json_of(rows))
        return
    print_table(
        "deployments",
        ["id", "name", "environment", "for", "state", "images", "updated"],
        [(d.id, d.name, d.environment, d.namespace or d.user, d.state.value, len(d.images),
          d.updated_at.isoformat(timespec="seconds")) for d in rows],
    )  # fmt: skip


@deployments_app.command()
def show(
    deployment: str = typer.Argument(..., help="The deployment's id."),
    json_output: bool = JsonOption,
) -> None:
    """One deployment: its pinned images, verdict, outcome, and what the engine runs now."""
    from harbourmaster.services.deployments import show_deployment
    from harbourmaster.services.results import json_of

    hm = open_core()
    result = show_deployment(hm, local_principal(hm), deployment)
    if json_output:
        emit_json(json_of(result))
        return
    _print(result)


@deployments_app.command()
def remove(
    deployment: str = typer.Argument(..., help="The deployment's id."),
    json_output: bool = JsonOption,
) -> None:
    """Remove what a deployment runs (containers and networks, Swarm services, Kubernetes objects; named
    volumes are kept)."""
    from harbourmaster.services.deployments import remove_deployment
    from harbourmaster.services.results import json_of

    hm = open_core()
    result = remove_deployment(hm, local_principal(hm), deployment)
    if json_output:
        emit_json(json_of(result))
        return
    removed = (result.result or {}).get("removed") or []
    _say(f"deployment {result.name} ({result.id}) removed: {', '.join(removed) or 'nothing was running'}")
