"""``registry list|show|hide-anonymous|test|browse``."""

from __future__ import annotations

import typer

from harbourmaster.cli._common import (
    EXIT_ERROR,
    JsonOption,
    emit_json,
    guard,
    local_principal,
    open_core,
    print_table,
    stdout,
)
from harbourmaster.services import registry_access
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


def _line(label: str, value: object) -> None:
    stdout.print(f"{label + ':':18}{value}", markup=False, highlight=False)


@app.command("test")
@guard
def test_registry(
    name: str,
    repository: str | None = typer.Option(
        None, "--repository", "-r", help="Also test pull access to this repository."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Probe a registry with its stored credential. Exit 0: all good; 1: any failure."""
    hm = open_core()
    report = registry_access.test_registry(hm, local_principal(hm), name, repository=repository)
    view = registry_access.probe_report_view(report)
    if json_output:
        emit_json(view)
    else:
        _line("registry", f"{name} ({report.registry})")
        _line("reachable", "yes" if report.reachable else "no")
        tls = report.tls
        if report.tls_subject:
            tls += f" (subject {report.tls_subject}, issuer {report.tls_issuer})"
        _line("tls", tls)
        auth = report.authentication + (f" (realm {report.auth_realm})" if report.auth_realm else "")
        _line("authentication", auth)
        _line("api version", report.api_version or "-")
        referrers = {True: "yes", False: "no (tag-schema fallback)", None: "unknown"}[report.referrers_api]
        _line("referrers api", referrers)
        _line("latency", f"{report.latency_ms:.1f} ms" if report.latency_ms is not None else "-")
        _line("result", "ok" if report.ok else f"{len(report.failures)} failure(s)")
        for failure in report.failures:
            stdout.print(f"  [bold red]✗[/] {failure.kind}: ", end="")
            stdout.print(failure.message, markup=False, highlight=False)
            for detail in failure.details:
                stdout.print(f"      {detail}", markup=False, highlight=False)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@app.command()
@guard
def browse(
    name: str,
    target: str | None = typer.Argument(None, metavar="[REPO[:TAG]]", help="A repository, or an image."),
    json_output: bool = JsonOption,
) -> None:
    """List a registry's repositories, a repository's tags, or an image's digest and platforms."""
    hm = open_core()
    result = registry_access.browse(hm, local_principal(hm), name, target)
    data = result.as_dict()
    if json_output:
        emit_json(data)
        return
    more = " (more exist; list truncated)" if result.truncated else ""
    if result.repositories is not None:
        print_table(f"repositories in {name}{more}", ["repository"], [(r,) for r in result.repositories])
    elif result.tags is not None:
        print_table(f"tags of {result.repository}{more}", ["tag"], [(t,) for t in result.tags])
    else:
        image = data["image"]
        sep = "@" if ":" in (result.reference or "") else ":"
        _line("image", f"{result.host}/{result.repository}{sep}{result.reference}")
        _line("digest", image["digest"])
        _line("media type", image["media_type"])
        _line("total size", f"{_size(image['total_size'])} ({image['total_size']} bytes)")
        _line("created", image["created"] or "-")
        print_table(
            "platforms",
            ["platform", "digest", "size", "created"],
            [
                (p["platform"] or "-", p["digest"], _size(p["size"]), p["created"] or "-")
                for p in image["platforms"]
            ],
        )
