"""``schema``: the governance document's JSON Schema, or its field reference."""

from __future__ import annotations

import sys

import typer

from harbourmaster.cli._common import GuardedGroup

app = typer.Typer(cls=GuardedGroup)


@app.command()
def schema(
    markdown: bool = typer.Option(
        False, "--markdown", help="Print the field reference (docs/governance.md) instead."
    ),
) -> None:
    """Print the JSON Schema of the governance document (or its field reference with --markdown).

    Generated from the models apply validates with; docs/governance.schema.json and
    docs/governance.md are this command's output.  Editors that speak the YAML language
    server use the schema with a first line such as
    '# yaml-language-server: $schema=../docs/governance.schema.json'.
    """
    from harbourmaster.services.document_schema import governance_markdown, render_json_schema

    sys.stdout.write(governance_markdown() if markdown else render_json_schema())
