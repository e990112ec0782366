"""The ``harbourmaster`` command: one sub-application per command group."""

from __future__ import annotations

import typer

from harbourmaster.cli import audit, credentials, governance, keys, registry, resolve, sbom, setup, token

app = typer.Typer(
    name="harbourmaster",
    help="Registry-governance control plane: approved registries, write-only credentials, decisions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for sub in (setup.app, governance.app, resolve.app):
    app.registered_commands.extend(sub.registered_commands)
app.add_typer(registry.app, name="registry")
app.add_typer(audit.app, name="audit")
app.add_typer(keys.app, name="keys")
app.add_typer(token.app, name="token")
app.add_typer(credentials.app, name="credentials")
app.add_typer(sbom.app, name="sbom")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
