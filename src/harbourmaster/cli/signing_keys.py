"""``signing-key import|generate|list|public``: signing keys kept in the vault (write-only)."""

from __future__ import annotations

from pathlib import Path

import typer

from harbourmaster.cli._common import (
    GuardedGroup,
    JsonOption,
    emit_json,
    local_principal,
    open_core,
    print_table,
    stdout,
)
from harbourmaster.cli.signing import PasswordOption, password_of

app = typer.Typer(
    cls=GuardedGroup,
    help="Signing keys kept in the vault (the private half is never shown).",
    no_args_is_help=True,
)


@app.command("import")
def import_key(
    name: str = typer.Argument(..., help="The name to keep the key under."),
    key: Path = typer.Option(..., "--key", help="cosign private key file (ENCRYPTED SIGSTORE PRIVATE KEY)."),
    password: str | None = PasswordOption,
    json_output: bool = JsonOption,
) -> None:
    """Keep a cosign private key in the vault under NAME; the file can then be destroyed."""
    from harbourmaster.services.results import json_of
    from harbourmaster.services.signing_keys import import_signing_key

    secret = password_of(password)
    hm = open_core()
    result = import_signing_key(hm, local_principal(hm), name, key_file=str(key), password=secret)
    if json_output:
        emit_json(json_of(result))
        return
    stdout.print(
        f"imported signing key {result.name} ({result.algorithm}, {result.fingerprint})", markup=False
    )


@app.command("generate")
def generate(
    name: str = typer.Argument(..., help="The name to keep the key under."),
    algorithm: str = typer.Option(
        "ecdsa-p256",
        "--algorithm",
        help="ecdsa-p256 (default), ecdsa-p384, ecdsa-p521, rsa-2048, rsa-3072, rsa-4096 or ed25519.",
    ),
    json_output: bool = JsonOption,
) -> None:
    """Generate a key pair in the vault under NAME; print its public key."""
    from harbourmaster.errors import BadInput
    from harbourmaster.services.results import json_of
    from harbourmaster.services.signing_keys import generate_signing_key
    from harbourmaster.signing.keys import KeyAlgorithm

    try:
        chosen = KeyAlgorithm(algorithm)
    except ValueError:
        raise BadInput(
            f"--algorithm {algorithm!r}: use one of {', '.join(a.value for a in KeyAlgorithm)}"
        ) from None
    hm = open_core()
    result = generate_signing_key(hm, local_principal(hm), name, algorithm=chosen)
    if json_output:
        emit_json(json_of(result))
        return
    stdout.print(
        f"generated signing key {result.name} ({result.algorithm}, {result.fingerprint})", markup=False
    )
    stdout.print(result.public_key, markup=False, end="")


@app.command("list")
def list_keys(json_output: bool = JsonOption) -> None:
    """Every signing key in the vault: name, algorithm, fingerprint, who made it and when."""
    from harbourmaster.services.results import json_of
    from harbourmaster.services.signing_keys import list_signing_keys

    hm = open_core()
    keys = list_signing_keys(hm, local_principal(hm))
    if json_output:
        emit_json(json_of(keys))
        return
    print_table(
        "signing keys",
        ["name", "algorithm", "fingerprint", "created", "by"],
        [[k.name, k.algorithm, k.fingerprint, k.created_at, k.created_by] for k in keys],
    )


@app.command("public")
def public(name: str = typer.Argument(..., help="The key's name.")) -> None:
    """Print the PEM public key of NAME (for a governance document's signing.keys, or cosign verify)."""
    from harbourmaster.services.signing_keys import signing_key

    hm = open_core()
    stdout.print(signing_key(hm, local_principal(hm), name).public_key, markup=False, end="")
