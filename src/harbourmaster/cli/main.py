"""The ``harbourmaster`` command: one sub-application per command group."""

from __future__ import annotations

import typer

from harbourmaster.cli import (
    audit,
    credentials,
    governance,
    keys,
    registry,
    resolve,
    sbom,
    setup,
    token,
    vulns,
)

app = typer.Typer(
    name="harbourmaster",
    help="Registry-governance control plane: approved registries, write-only credentials, decisions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for sub in (setup.app, governance.app, resolve.app, vulns.scan_app):
    app.registered_commands.extend(sub.registered_commands)
app.add_typer(registry.app, name="registry")
app.add_typer(audit.app, name="audit")
app.add_typer(keys.app, name="keys")
app.add_typer(token.app, name="token")
app.add_typer(credentials.app, name="credentials")
app.add_typer(sbom.app, name="sbom")
app.add_typer(vulns.vulndb_app, name="vulndb")
app.add_typer(vulns.vulns_app, name="vulns")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
