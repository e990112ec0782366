"""``audit verify|export``."""

from __future__ import annotations

import sys

import typer

from harbourmaster.cli._common import JsonOption, emit_json, guard, open_core, stdout
from harbourmaster.domain.audit import to_json_line
from harbourmaster.services.audit import iter_audit, verify_audit

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@app.command()
@guard
def verify(json_output: bool = JsonOption) -> None:
    """Check the hash chain; names the first edited, deleted or reordered record. Exit 1 if broken."""
    hm = open_core()
    with hm.db.read() as session:
        verdict = verify_audit(session)
    if json_output:
        emit_json(
            {
                "ok": verdict.ok,
                "count": verdict.count,
                "first_bad_seq": verdict.first_bad_seq,
                "problem": verdict.problem,
            }
        )
    elif verdict.ok:
        stdout.print(f"audit log intact: {verdict.count} record(s)")
    else:
        stdout.print(f"audit log BROKEN at record {verdict.first_bad_seq}: {verdict.problem}", markup=False)
    raise typer.Exit(0 if verdict.ok else 1)


@app.command()
@guard
def export(since: int = typer.Option(0, help="Only records with a sequence number above this.")) -> None:
    """Write every record as JSON lines (for a SIEM) on standard output."""
    hm = open_core()
    with hm.db.read() as session:
        for entry in iter_audit(session):
            if entry.seq > since:
                sys.stdout.write(to_json_line(entry) + "\n")
