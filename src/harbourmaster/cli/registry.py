"""``registry list|show|hide-anonymous``."""

from __future__ import annotations

import typer

from harbourmaster.cli._common import (
    JsonOption,
    emit_json,
    guard,
    local_principal,
    open_core,
    print_table,
    stdout,
)
from harbourmaster.services.governance import get_registry, set_hide_anonymous
from harbourmaster.services.views import registry_view

app = typer.Typer(help="Approved registries.", no_args_is_help=True)


@app.command("list")
@guard
def list_registries(json_output: bool = JsonOption) -> None:
    """List registries (secrets are never shown; only whether one is set)."""
    hm = open_core()
    state = hm.state()
    rows = [registry_view(r, state=state, today=hm.today()) for r in state.registries]
    if json_output:
        emit_json(rows)
        return
    print_table(
        "registries",
        ["name", "provider", "host", "scope", "public", "credential", "expires", "grants"],
        [
            (
                r["name"],
                r["provider"],
                r["host"],
                r["scope"] or "-",
                "yes" if r["public"] else "no",
                (
                    f"{r['credential']['kind']} {r['credential']['username']}"
                    + (" (secret set)" if r["credential"]["secret_set"] else "")
                )
                if r["credential"]
                else "-",
                (r["credential"] or {}).get("expires") or "-",
                len(r["grants"]),
            )
            for r in rows
        ],
    )


@app.command()
@guard
def show(name: str, json_output: bool = JsonOption) -> None:
    """Show one registry and its grants."""
    hm = open_core()
    view = registry_view(get_registry(hm, name), state=hm.state(), today=hm.today())
    if json_output:
        emit_json(view)
        return
    for key in ("name", "provider", "url", "host", "scope", "public", "builtin", "oci_artifacts"):
        stdout.print(f"{key + ':':16}{view[key]}", markup=False, highlight=False)
    for key, value in view["provider_fields"].items():
        stdout.print(f"{key + ':':16}{value}", markup=False)
    stdout.print(f"{'tls:':16}{view['tls']}", markup=False, highlight=False)
    cred = view["credential"]
    if cred:
        stdout.print(
            f"{'credential:':16}{cred['kind']} {cred['username']}, secret "
            f"{'set' if cred['secret_set'] else 'not set'}, expires {cred['expires'] or 'never'}"
            f"{' (EXPIRED)' if cred['expired'] else ''}",
            markup=False,
        )
    for g in view["grants"]:
        if g["namespace"]:
            who = f"namespace {g['namespace']}"
        else:
            who = f"team {g['team']}" if g["team"] else f"user {g['user']}"
        stdout.print(f"{'grant:':16}{g['environment']} {who}", markup=False)


@app.command("hide-anonymous")
@guard
def hide_anonymous(
    env: str | None = typer.Option(None, "--env", help="Hide for this environment only (default: globally)."),
    show_again: bool = typer.Option(False, "--show", help="Show it again instead of hiding it."),
    json_output: bool = JsonOption,
) -> None:
    """Hide anonymous Docker Hub for everyone, globally or on one environment."""
    hm = open_core()
    change = set_hide_anonymous(hm, local_principal(hm), hidden=not show_again, environment=env)
    if json_output:
        emit_json({"changes": list(change.changes), "revision": change.revision})
        return
    stdout.print("\n".join(change.changes) or "no changes", markup=False)
