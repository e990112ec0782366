"""``sign``, ``verify``, ``sign-blob`` and ``verify-blob``: cosign's formats, without cosign."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from harbourmaster.cli._common import GuardedGroup, JsonOption, emit_json, local_principal, open_core, stdout
from harbourmaster.cli._exit import ExitCode
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput

if TYPE_CHECKING:
    from harbourmaster.services.core import Harbourmaster
    from harbourmaster.services.signing_sources import KeySource

app = typer.Typer(cls=GuardedGroup, help="Sign and verify images and blobs.", no_args_is_help=True)

KeyFileOption = typer.Option(None, "--key", help="cosign private key file (ENCRYPTED SIGSTORE PRIVATE KEY).")
VaultKeyOption = typer.Option(None, "--signing-key", help="A signing key kept in the vault, by name.")
PasswordOption = typer.Option(
    None,
    "--password",
    help="Where the key file's password is: env:VAR or file:PATH. Without it: asked for on a terminal, "
    "else the empty password.",
)
AnnotationOption = typer.Option(None, "--annotation", "-a", help="KEY=VALUE, repeatable.")
PublicKeysOption = typer.Option(None, "--key", help="PEM public key (or certificate) file; repeatable.")
VaultKeysOption = typer.Option(None, "--signing-key", help="A vault signing key's public half; repeatable.")
_MAX_SIGNATURE_ARGUMENT = 64 * 1024


def password_of(reference: str | None) -> Secret:
    """The key password ``reference`` (env:VAR or file:PATH) names; asked for on a terminal without one."""
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
        return Secret(os.environ[target])  # an empty password is a valid cosign password
    if scheme == "file":
        from harbourmaster.vault.references import resolve_secret_reference

        return resolve_secret_reference(reference, field="--password")
    raise BadInput("--password: expected env:VAR or file:PATH (the password itself is never an argument)")


def _key_source(key: Path | None, vault_key: str | None, password: str | None) -> KeySource:
    from harbourmaster.services.signing_sources import KeyFile, VaultKey

    if (key is None) == (vault_key is None):
        raise BadInput("give exactly one of --key FILE or --signing-key NAME")
    if vault_key is not None:
        if password is not None:
            raise BadInput("--password is for --key files; a vault key needs none")
        return VaultKey(vault_key)
    assert key is not None
    return KeyFile(str(key), password_of(password))


def _read_blob(path: Path) -> bytes:
    from harbourmaster.services.signing_blobs import MAX_BLOB_BYTES
    from harbourmaster.vault.references import read_host_file

    return read_host_file(str(path), field="FILE", guard=None, limit=MAX_BLOB_BYTES, what="file")


@app.command("sign-blob")
def sign_blob(
    file: Path = typer.Argument(..., help="The file to sign."),
    key: Path | None = KeyFileOption,
    signing_key: str | None = VaultKeyOption,
    password: str | None = PasswordOption,
    output_signature: Path | None = typer.Option(
        None, "--output-signature", help="Write the base64 signature here too."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Sign FILE's bytes (cosign sign-blob); print the base64 signature."""
    from harbourmaster.services.results import json_of
    from harbourmaster.services.signing_blobs import sign_blob as sign

    source = _key_source(key, signing_key, password)
    hm = open_core()
    result = sign(hm, local_principal(hm), _read_blob(file), key=source, what=str(file))
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
    key: list[Path] | None = PublicKeysOption,
    signing_key: list[str] | None = VaultKeysOption,
    json_output: bool = JsonOption,
) -> None:
    """Verify a detached signature over FILE (cosign verify-blob). Exit 0 verified, 1 not, 2 bad input."""
    from harbourmaster.services.results import json_of
    from harbourmaster.services.signing_blobs import verify_blob as verify
    from harbourmaster.services.signing_trust import PublicKeyFile

    text = signature
    if os.path.isfile(signature):
        from harbourmaster.vault.references import read_host_file

        raw = read_host_file(
            signature, field="--signature", guard=None, limit=_MAX_SIGNATURE_ARGUMENT, what="signature file"
        )
        text = raw.decode("ascii", errors="replace")
    # Vault keys need the data directory; key files alone do not (as cosign needs none).
    hm: Harbourmaster | None = open_core() if signing_key else None
    check = verify(
        _read_blob(file),
        text,
        keys=[PublicKeyFile(str(k)) for k in key or []],
        what=str(file),
        hm=hm,
        vault_keys=signing_key or [],
    )
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
    key: Path | None = KeyFileOption,
    signing_key: str | None = VaultKeyOption,
    password: str | None = PasswordOption,
    annotation: list[str] | None = AnnotationOption,
    fmt: str = typer.Option(
        "tag",
        "--format",
        help="tag: cosign's sha256-<hex>.sig manifest; bundle: a "
        "sigstore bundle v0.3 artifact referring to the image.",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Sign IMAGE by digest and store the signature beside it (cosign's tag or bundle format)."""
    from harbourmaster.services.results import json_of
    from harbourmaster.services.signing import sign_image
    from harbourmaster.services.signing_trust import parse_annotations

    source = _key_source(key, signing_key, password)
    annotations = parse_annotations(annotation or [])
    hm = open_core()
    result = sign_image(hm, local_principal(hm), image, key=source, annotations=annotations, fmt=fmt)
    if json_output:
        emit_json(json_of(result))
        return
    stdout.print(
        f"signed {result.image} ({result.image_digest}) with {result.key} ({result.key_fingerprint}); "
        f"{result.format} signature at {result.location}",
        markup=False,
    )


@app.command("verify")
def verify(
    image: str = typer.Argument(..., help="The image to verify (a tag is resolved to its digest)."),
    key: list[Path] | None = PublicKeysOption,
    signing_key: list[str] | None = VaultKeysOption,
    env: str | None = typer.Option(None, "--env", help="Verify against this environment's tier policy."),
    annotation: list[str] | None = AnnotationOption,
    require_all: bool = typer.Option(False, "--all", help="Every key given must have signed (default: any)."),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Check the signatures again, not a cached verdict."
    ),
    no_wait: bool = typer.Option(
        False, "--no-wait", help="With --env: queue the verification as a background job and print its id."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Check IMAGE's signatures. Exit 0: the signer policy is met; 1: not; 2: bad input; 3: could not
    decide."""
    from harbourmaster.domain.signers import SignersRequired
    from harbourmaster.services.results import json_of
    from harbourmaster.services.signing import verify_image
    from harbourmaster.services.signing_trust import PublicKeyFile, parse_annotations

    if env is not None and (key or signing_key or require_all):
        raise BadInput("--env verifies against the environment's signers; do not also give keys or --all")
    annotations = parse_annotations(annotation or [])
    hm = open_core()
    if no_wait:
        if env is None or key or signing_key or annotations or no_cache:
            raise BadInput("--no-wait verifies against an environment: give --env only (no keys, "
                           "--annotation or --no-cache)")
        from harbourmaster.cli.jobs import print_queued
        from harbourmaster.services.job_requests import submit_image_job

        print_queued(submit_image_job(hm, local_principal(hm), "image.verify", image, environment=env),
                     json_output)
        return
    result = verify_image(
        hm,
        local_principal(hm),
        image,
        environment=env,
        keys=tuple(PublicKeyFile(str(k)) for k in key or []),
        vault_keys=tuple(signing_key or []),
        annotations=annotations,
        required=SignersRequired.ALL if require_all else SignersRequired.ANY,
        use_cache=not no_cache,
    )
    if json_output:
        emit_json(json_of(result))
    else:
        for check in result.signatures:
            mark = "ok  " if check.verified else "FAIL"
            stdout.print(f"{mark} {check.form} {check.location}: {check.reason}", markup=False)
        verdict = "satisfied" if result.satisfied else "NOT satisfied"
        cached = " (cached verdict)" if result.cached else ""
        stdout.print(
            f"{result.image} ({result.image_digest}): signer policy of {result.trust} {verdict}: "
            f"{result.reason}{cached}",
            markup=False,
        )
    if not result.satisfied:
        raise typer.Exit(ExitCode.REFUSED)
