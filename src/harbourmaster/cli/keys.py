"""``keys rotate``."""

from __future__ import annotations

import typer

from harbourmaster.cli._common import GuardedGroup, JsonOption, emit_json, local_principal, open_core, stdout
from harbourmaster.services.keys import rotate_master_key
from harbourmaster.services.results import json_of

app = typer.Typer(cls=GuardedGroup, help="The master key.", no_args_is_help=True)


@app.command()
def rotate(
    keep_retired: bool = typer.Option(
        False,
        "--keep-retired",
        help="Keep the old key as master.key.<id>.retired (0600) to open restored backups; "
        "by default it is erased once every secret is re-wrapped.",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Re-wrap every data key under a new master key, atomically; then erase the old key."""
    hm = open_core()
    report = rotate_master_key(hm, local_principal(hm), keep_retired=keep_retired)
    if json_output:
        emit_json(json_of(report))
        return
    kept = (
        f"; the old key is kept in {report.retired_key_file}"
        if report.retired_key_file
        else "; the old key was erased"
    )
    stdout.print(
        f"master key rotated: {report.old_key_id} -> {report.new_key_id}; "
        f"{report.rewrapped} data key(s) re-wrapped{kept}",
        markup=False,
    )
