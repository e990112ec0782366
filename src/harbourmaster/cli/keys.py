"""``keys rotate``."""

from __future__ import annotations

import typer

from harbourmaster.cli._common import JsonOption, emit_json, guard, open_core, stdout
from harbourmaster.services.keys import rotate_master_key

app = typer.Typer(help="The master key.", no_args_is_help=True)


@app.command()
@guard
def rotate(json_output: bool = JsonOption) -> None:
    """Re-wrap every data key under a new master key, atomically."""
    hm = open_core()
    report = rotate_master_key(hm, actor=hm.local_actor())
    if json_output:
        emit_json(
            {"old_key_id": report.old_key_id, "new_key_id": report.new_key_id, "rewrapped": report.rewrapped}
        )
        return
    stdout.print(
        f"master key rotated: {report.old_key_id} -> {report.new_key_id}; "
        f"{report.rewrapped} data key(s) re-wrapped"
    )
