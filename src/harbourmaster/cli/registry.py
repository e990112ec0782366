"""``registry list|show|hide-anonymous|test|browse|notifications``."""

from __future__ import annotations

import sys
from typing import Any

import typer

from harbourmaster.cli._common import (
    ExitCode,
    GuardedGroup,
    JsonOption,
    emit_json,
    local_principal,
    open_core,
    print_table,
    stdout,
)

app = typer.Typer(cls=GuardedGroup, help="Approved registries.", no_args_is_help=True)


@app.command("list")
def list_registries(json_output: bool = JsonOption) -> None:
    """List registries (secrets are never shown; only whether one is set)."""
    from harbourmaster.services.governance_reads import list_registries
    from harbourmaster.services.results import json_of

    hm = open_core()
    rows = json_of(list_registries(hm, local_principal(hm)))
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
        whole={"name", "host", "scope"},
    )


@app.command()
def show(name: str, json_output: bool = JsonOption) -> None:
    """Show one registry and its grants."""
    from harbourmaster.services.governance_reads import registry
    from harbourmaster.services.results import json_of

    hm = open_core()
    view = json_of(registry(hm, local_principal(hm), name))
    if json_output:
        emit_json(view)
        return
    for label, value in _show_lines(view):
        _line(label, value)


def _yes(value: object) -> str:
    return "yes" if value else "no"


def _tls_text(tls: dict[str, bool]) -> str:
    if tls["insecure"]:
        text = "insecure: plain HTTP or unverified TLS (development tier only)"
    elif tls["ca_bundle_set"]:
        text = "verified against the registry's own CA bundle"
    else:
        text = "verified against the system's CAs"
    if tls["client_certificate_set"]:
        text += "; client certificate " + ("and key set" if tls["client_key_set"] else "set, no key")
    elif tls["client_key_set"]:
        text += "; client key set, no certificate"
    return text


def _show_lines(view: dict[str, Any]) -> list[tuple[str, str]]:
    """``registry show`` as label/value lines: nested settings spelled out, never a Python value."""
    lines = [
        ("name", view["name"]),
        ("provider", view["provider"]),
        ("url", view["url"]),
        ("host", view["host"]),
        ("scope", view["scope"] or "(the whole registry)"),
        ("public", _yes(view["public"])),
        ("built in", _yes(view["builtin"])),
        ("oci artifacts", _yes(view["oci_artifacts"])),
    ]
    lines += [(key.replace("_", " "), str(value)) for key, value in sorted(view["provider_fields"].items())]
    lines.append(("tls", _tls_text(view["tls"])))
    cred = view["credential"]
    if cred:
        lines.append(
            (
                "credential",
                f"{cred['kind']} {cred['username']}, secret {'set' if cred['secret_set'] else 'not set'}, "
                f"expires {cred['expires'] or 'never'}{' (EXPIRED)' if cred['expired'] else ''}",
            )
        )
    else:
        lines.append(("credential", "none (anonymous)"))
    if view.get("hidden"):
        lines.append(("hidden", "yes (anonymous Docker Hub is hidden everywhere)"))
    grants = view.get("grants") or []
    for g in grants:
        if g["namespace"]:
            who = f"namespace {g['namespace']}"
        else:
            who = f"team {g['team']}" if g["team"] else f"user {g['user']}"
        lines.append(("grant", f"{g['environment']} {who}"))
    if not grants and "grants" in view:
        lines.append(("grants", "none"))
    return lines


@app.command("hide-anonymous")
def hide_anonymous(
    env: str | None = typer.Option(None, "--env", help="Hide for this environment only (default: globally)."),
    show_again: bool = typer.Option(False, "--show", help="Show it again instead of hiding it."),
    json_output: bool = JsonOption,
) -> None:
    """Hide anonymous Docker Hub for everyone, globally or on one environment."""
    from harbourmaster.services.governance import set_hide_anonymous
    from harbourmaster.services.results import json_of

    hm = open_core()
    change = set_hide_anonymous(hm, local_principal(hm), hidden=not show_again, environment=env)
    if json_output:
        emit_json(json_of(change))
        return
    stdout.print("\n".join(change.changes) or "no changes", markup=False)


def _line(label: str, value: object) -> None:
    stdout.print(f"{label + ':':18}{value}", markup=False, highlight=False)


@app.command("test")
def test_registry(
    name: str,
    repository: str | None = typer.Option(
        None, "--repository", "-r", help="Also test pull access to this repository."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Probe a registry with its stored credential. Exit 0: all good; 3: any failure (the registry failed)."""
    from harbourmaster.services import registry_probe
    from harbourmaster.services.results import json_of

    hm = open_core()
    report = registry_probe.test_registry(hm, local_principal(hm), name, repository=repository)
    if json_output:
        emit_json(json_of(report))
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
        raise typer.Exit(int(ExitCode.UNDECIDED))


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


@app.command()
def browse(
    name: str,
    target: str | None = typer.Argument(None, metavar="[REPO[:TAG]]", help="A repository, or an image."),
    json_output: bool = JsonOption,
) -> None:
    """List a registry's repositories, a repository's tags, or an image's digest and platforms."""
    from harbourmaster.services import registry_browse
    from harbourmaster.services.results import json_of

    hm = open_core()
    result = registry_browse.browse(hm, local_principal(hm), name, target)
    data = json_of(result)
    if json_output:
        emit_json(data)
        return
    more = " (more exist; list truncated)" if result.truncated else ""
    if result.repositories is not None:
        print_table(f"repositories in {name}{more}", ["repository"], [(r,) for r in result.repositories],
                    whole={"repository"})
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
            whole={"platform", "digest"},
        )


@app.command()
def notifications(
    name: str,
    url: str = typer.Option(
        "http://127.0.0.1:8400", "--url", help="harbourmaster's base URL as the registry reaches it."
    ),
    rotate: bool = typer.Option(False, "--rotate", help="Replace the secret (the old one stops working)."),
    json_output: bool = JsonOption,
) -> None:
    """Print the notifications section of registry NAME's config.yml, which sends its push and pull
    events to harbourmaster (pushes are scanned, pulls audited).  The first call makes the registry's
    secret; it is write-only and shown only then, or with --rotate, which replaces it."""
    from harbourmaster.services.registry_notifications import create_notification_secret

    hm = open_core()
    snippet = create_notification_secret(hm, local_principal(hm), name, base_url=url, rotate=rotate)
    if json_output:
        emit_json(snippet.model_dump(mode="json"))
        return
    sys.stdout.write(snippet.config)
    sys.stderr.write(
        f"# paste this into registry {snippet.registry}'s config.yml and restart it; the secret is shown "
        "only now (run again with --rotate to replace it)\n"
    )
