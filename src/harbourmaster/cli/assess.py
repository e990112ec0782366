"""``assess``: the live configuration against the seed's key decisions and maturity levels, as a table,
JSON (the API's answer) or one standalone HTML file."""

from __future__ import annotations

import enum
from pathlib import Path

import typer

from harbourmaster.cli._common import GuardedGroup, emit_json, local_principal, open_core, print_table, stdout

app = typer.Typer(cls=GuardedGroup)


class ReportFormat(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    HTML = "html"


def _table(result: object) -> None:
    from harbourmaster.services.assessment_results import AssessmentPublic

    assert isinstance(result, AssessmentPublic)
    print_table(
        "Key decisions",
        ["decision", "status", "evidence", "what would meet it"],
        (
            (f"{d.id} {d.title}", d.status, "\n".join(d.evidence), "\n".join(d.remedies))
            for d in result.decisions
        ),
        whole=["status"],
    )
    print_table(
        "Maturity levels",
        ["level", "control", "met", "shortfalls"],
        (
            (lvl.number, f"{c.id}: {c.text}", "met" if c.met else "not met", "\n".join(c.shortfalls))
            for lvl in result.levels
            for c in lvl.controls
        ),
    )
    for note in result.assumed:
        stdout.print(f"assumed: {note}", markup=False, highlight=False)
    if not result.layers:
        stdout.print("no admission webhook or pull gate was asked (--webhook, --gate)", markup=False)
    stdout.print(f"maturity level {result.level}", markup=False, highlight=False)


@app.command()
def assess(
    format: ReportFormat = typer.Option(ReportFormat.TABLE, "--format", help="table, json or html."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the report here (atomically) instead of standard output."
    ),
    webhook: str | None = typer.Option(None, "--webhook", help="The admission webhook's base URL."),
    gate: str | None = typer.Option(None, "--gate", help="The pull gate's base URL."),
    ca_bundle: Path | None = typer.Option(None, "--ca-bundle", help="CA certificates of the webhook/gate."),
    egress_restricted: list[str] = typer.Option(
        [],
        "--egress-restricted",
        help="An environment whose egress policy allows only approved registries.",
    ),
) -> None:
    """Assess the configuration against the key decisions Ch5-D-01..D-09 and maturity levels 1-4.

    The webhook and gate given are asked for each environment's rules fingerprint, as policy diff does.
    harbourmaster cannot see network policy: --egress-restricted ENV attests it; otherwise it is assumed
    absent, and the report says so.  Exit 2: bad input (an unknown format or environment, an unwritable
    -o path).
    """
    import json

    from harbourmaster.cli._layer_probe import ask_layer
    from harbourmaster.cli.sbom import _write_atomically
    from harbourmaster.services.assessment import assessment
    from harbourmaster.services.results import json_of

    hm = open_core()
    answers = {
        env.name: [
            ask_layer(layer, url, env.name, ca_bundle)
            for layer, url in (("webhook", webhook), ("gate", gate))
            if url is not None
        ]
        for env in hm.state().environments
    }
    result = assessment(hm, local_principal(hm), answers=answers, egress_restricted=egress_restricted)
    if output is None:
        if format is ReportFormat.JSON:
            emit_json(json_of(result))
        elif format is ReportFormat.HTML:
            typer.echo(result.html(), nl=False)
        else:
            _table(result)
        return
    if format is ReportFormat.JSON:
        text = json.dumps(json_of(result), indent=2, default=str) + "\n"
    elif format is ReportFormat.HTML:
        text = result.html()
    else:
        with stdout.capture() as captured:
            _table(result)
        text = captured.get()
    _write_atomically(output, text, newline=False)
    stdout.print(f"wrote {output}: maturity level {result.level}", markup=False, highlight=False)
