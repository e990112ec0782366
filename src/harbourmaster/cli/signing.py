"""``sign``, ``verify``, ``sign-blob`` and ``verify-blob``: cosign's formats, without cosign."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from harbourmaster.cli._common import GuardedGroup, JsonOption, emit_json, local_principal, open_core, stdout
from harbourmaster.cli._exit import ExitCode
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput

app = typer.Typer(cls=GuardedGroup, help="Sign and verify images and blobs.", no_args_is_help=True)

KeyOption = typer.Option(..., "--key", help="cosign private key file (ENCRYPTED SIGSTORE PRIVATE KEY).")
PasswordOption = typer.Option(
    None,
    "--password",
    help="Where the key's password is: env:VAR or file:PATH. Without it: asked for on a terminal, "
    "else the empty password.",
)
AnnotationOption = typer.Option(None, "--annotation", "-a", help="KEY=VALUE, repeatable.")
_MAX_SIGNATURE_ARGUMENT = 64 * 1024


def _password(reference: str | None) -> Secret:
    if reference is None:
        if sys.stdin.isatty():
            return Secret(
                typer.prompt("Password for the key", hide_input=True, default="", show_default=False)
            )
        return Secret("")
    scheme, _, target = reference.partition(":")
    if scheme == "env":
        from harbourmaster.vault.references import HostFiles

        HostFiles.protecting(directories=[], files=[]).check_variable(target, field="--password")
        if target not in os.environ:
            raise BadInput(f"--password: environment variable {target} is not set")
        return Secret(os.environ[target])
    if scheme == "file":
        from harbourmaster.vault.references import resolve_secret_reference

        return resolve_secret_reference(reference, field="--password")
    raise BadInput("--password: expected env:VAR or file:PATH (the password itself is never an argument)")


def _read_blob(path: Path) -> bytes:
    from harbourmaster.services.signing import MAX_BLOB_BYTES
    from harbourmaster.vault.references import read_host_file

    return read_host_file(str(path), field="FILE", guard=None, limit=MAX_BLOB_BYTES, what="file")


@app.command("sign-blob")
def sign_blob(
    file: Path = typer.Argument(..., help="The file to sign."),
    key: Path = KeyOption,
    password: str | None = PasswordOption,
    output_signature: Path | None = typer.Option(
        None, "--output-signature", help="Write the base64 signature here too."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Sign FILE's bytes (cosign sign-blob); print the base64 signature."""
    from harbourmaster.services.results import json_of
    from harbourmaster.services.signing import KeyFile
    from harbourmaster.services.signing import sign_blob as sign

    hm = open_core()
    result = sign(
        hm, local_principal(hm), _read_blob(file), key=KeyFile(str(key), _password(password)), what=str(file)
    )
    if output_signature is not None:
        output_signature.write_text(result.signature)
    if json_output:
        emit_json(json_of(result))
        return
    stdout.print(result.signature, markup=False)


@app.command("verify-blob")
def verify_blob(
    file: Path = typer.Argument(..., help="The file that was signed."),
    signature: str = typer.Option(..., "--signature", help="The base64 signature, or a file holding it."),
    key: list[Path] = typer.Option(..., "--key", help="PEM public key (or certificate) file; repeatable."),
    json_output: bool = JsonOption,
) -> None:
    """Verify a detached signature over FILE (cosign verify-blob). Exit 0 verified, 1 not, 2 bad input."""
    from harbourmaster.services.results import json_of
    from harbourmaster.services.signing import PublicKeyFile
    from harbourmaster.services.signing import verify_blob as verify

    text = signature
    if os.path.isfile(signature):
        from harbourmaster.vault.references import read_host_file

        text = read_host_file(
            signature, field="--signature", guard=None, limit=_MAX_SIGNATURE_ARGUMENT, what="signature file"
        ).decode("ascii", errors="replace")
    check = verify(_read_blob(file), text, keys=[PublicKeyFile(str(k)) for k in key], what=str(file))
    if json_output:
        emit_json(json_of(check))
    else:
        stdout.print(
            ("Verified OK: " if check.verified else "Verification FAILED: ") + check.reason, markup=False
        )
    if not check.verified:
        raise typer.Exit(ExitCode.REFUSED)


@app.command("sign")
def sign(
    image: str = typer.Argument(..., help="The image (a tag is resolved to its digest first)."),
    key: Path = KeyOption,
    password: str | None = PasswordOption,
    annotation: list[str] | None = AnnotationOption,
    json_output: bool = JsonOption,
) -> None:
    """Sign IMAGE by digest and add the signature to its sha256-<hex>.sig manifest (cosign's layout)."""
    from harbourmaster.services.results import json_of
    from harbourmaster.services.signing import KeyFile, parse_annotations, sign_image

    hm = open_core()
    result = sign_image(
        hm,
        local_principal(hm),
        image,
        key=KeyFile(str(key), _password(password)),
        annotations=parse_annotations(annotation or []),
    )
    if json_output:
        emit_json(json_of(result))
        return
    stdout.print(
        f"signed {result.image}@{result.image_digest} with {result.key} ({result.key_fingerprint}); "
        f"signature in {result.location}",
        markup=False,
    )


@app.command("verify")
def verify(
    image: str = typer.Argument(..., help="The image to verify (a tag is resolved to its digest)."),
    key: list[Path] = typer.Option(..., "--key", help="PEM public key (or certificate) file; repeatable."),
    annotation: list[str] | None = AnnotationOption,
    require_all: bool = typer.Option(False, "--all", help="Every key given must have signed (default: any)."),
    json_output: bool = JsonOption,
) -> None:
    """Check IMAGE's signatures. Exit 0: the signer policy is met; 1: not; 2: bad input; 3: could not
    decide."""
    from harbourmaster.domain.signers import SignersRequired
    from harbourmaster.services.results import json_of
    from harbourmaster.services.signing import PublicKeyFile, parse_annotations, verify_image

    hm = open_core()
    result = verify_image(
        hm,
        local_principal(hm),
        image,
        keys=[PublicKeyFile(str(k)) for k in key],
        annotations=parse_annotations(annotation or []),
        required=SignersRequired.ALL if require_all else SignersRequired.ANY,
    )
    if json_output:
        emit_json(json_of(result))
    else:
        for check in result.signatures:
            mark = "ok  " if check.verified else "FAIL"
            stdout.print(f"{mark} {check.form} {check.location}: {check.reason}", markup=False)
        verdict = "satisfied" if result.satisfied else "NOT satisfied"
        stdout.print(
            f"{result.image}@{result.image_digest}: signer policy {verdict}: {result.reason}", markup=False
        )
    if not result.satisfied:
        raise typer.Exit(ExitCode.REFUSED)
