"""``audit verify|export|checkpoint|public-key``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from harbourmaster.cli._common import (
    ExitCode,
    GuardedGroup,
    JsonOption,
    emit_json,
    local_principal,
    open_core,
    stdout,
)
from harbourmaster.errors import BadInput
from harbourmaster.services import audit_log
from harbourmaster.services.results import json_of
from harbourmaster.vault.signing import CheckpointPublicKey

app = typer.Typer(cls=GuardedGroup, help="The tamper-evident audit log.", no_args_is_help=True)

#: The exit code for a broken chain or a failed checkpoint (tampering found).
EXIT_TAMPERED = int(ExitCode.REFUSED)
#: A public key file is a few hundred bytes.
_MAX_PEM_BYTES = 64 * 1024


def _read_public_key(path: Path) -> CheckpointPublicKey:
    try:
        with path.open("rb") as handle:
            data = handle.read(_MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise BadInput(f"--public-key {path}: cannot be read: {exc.strerror}") from None
    if len(data) > _MAX_PEM_BYTES:
        raise BadInput(f"--public-key {path}: larger than {_MAX_PEM_BYTES} bytes, not a public key")
    return CheckpointPublicKey.from_pem(data, source=f"--public-key {path}")


def _write(path: Path, text: str, *, option: str = "--output") -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{option} {path}: cannot write: {exc.strerror}") from None


@app.command()
def verify(
    checkpoint: list[Path] = typer.Option(
        [],
        "--checkpoint",
        help="A checkpoint file, or an audit export, to check the chain against (repeatable). "
        "The configured checkpoint file is checked too when it exists.",
    ),
    public_key: Path | None = typer.Option(
        None,
        "--public-key",
        help="A PEM file with the public key ('audit public-key') to check signatures with, "
        "instead of the vault's key (for checking on another machine).",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Check the hash chain and every checkpoint; name the first problem. Exit 1 if anything fails.

    Exit 2 when a checkpoint file or the public key cannot be read or is malformed; 3 when the
    database or the master key cannot be used.
    """
    key = _read_public_key(public_key) if public_key is not None else None
    hm = open_core()
    result = audit_log.verify(hm, local_principal(hm), checkpoint_files=checkpoint, key=key)
    if json_output:
        emit_json(json_of(result))
        raise typer.Exit(0 if result.ok else EXIT_TAMPERED)
    if result.chain_ok:
        stdout.print(f"audit log intact: {result.count} record(s)")
    else:
        stdout.print(f"audit log BROKEN at record {result.first_bad_seq}: {result.problem}", markup=False)
    if result.checkpoints == 0:
        stdout.print(
            "no checkpoints checked: the chain alone cannot show that it was cut short, rewritten from an "
            "edited record on, or replaced (see 'harbourmaster audit checkpoint')",
            markup=False,
        )
    else:
        sources = ", ".join(result.checkpoint_sources)
        checked = f"{result.checkpoints_checked} of {result.checkpoints}"
        stdout.print(f"checkpoints: {checked} verified ({sources})", markup=False)
    for problem in result.checkpoint_problems:
        stdout.print(f"checkpoint FAILED: {problem}", markup=False)
    raise typer.Exit(0 if result.ok else EXIT_TAMPERED)


@app.command()
def export(
    since: int = typer.Option(0, help="Only records with a sequence number above this."),
    checkpoint: bool = typer.Option(
        True,
        "--checkpoint/--no-checkpoint",
        help="End with a signed checkpoint of the last record exported (a line with "
        '"type": "audit.checkpoint"); --no-checkpoint exports a log that no longer verifies.',
    ),
) -> None:
    """Write every record as JSON lines (for a SIEM) on standard output, then a checkpoint line."""
    hm = open_core()
    for line in audit_log.export_lines(hm, local_principal(hm), since=since, checkpoint=checkpoint):
        sys.stdout.write(line)


@app.command("checkpoint")
def checkpoint_(
    json_output: bool = JsonOption,
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Also write the checkpoint line to this file (for verify --checkpoint)."
    ),
) -> None:
    """Sign the chain's newest record; append the checkpoint to the checkpoint file and syslog.

    Refused (exit 1) when the chain is broken or no longer extends the last checkpoint.
    """
    hm = open_core()
    emitted = audit_log.checkpoint(hm, local_principal(hm))
    if output is not None:
        _write(output, emitted.json_line() + "\n")
    if json_output:
        emit_json(json_of(emitted))
        return
    stdout.print(
        f"checkpoint: record {emitted.seq}, head {emitted.head}, key {emitted.key_id}, at {emitted.time}; "
        f"appended to {hm.settings.audit_checkpoint_file}" + (f" and written to {output}" if output else ""),
        markup=False,
    )


@app.command("public-key")
def public_key_(
    json_output: bool = JsonOption,
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the PEM public key to this file."),
) -> None:
    """The public key that checks checkpoints (PEM), and its key id, for verifiers elsewhere."""
    hm = open_core()
    key = audit_log.public_key(hm, local_principal(hm))
    if output is not None:
        _write(output, key.pem)
    if json_output:
        emit_json(json_of(key))
        return
    if output is None:
        sys.stdout.write(key.pem)
    stdout.print(f"key id (SHA-256 of the raw Ed25519 public key): {key.key_id}", markup=False)
