"""The checkpoint signing key: sealed by the vault, usable only to sign, checkable by anyone."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import pickle
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from harbourmaster.domain.audit_checkpoint import (
    Checkpoint,
    checkpoint_key_id,
    checkpoint_payload,
    checkpoint_to_json_line,
)
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput
from harbourmaster.vault import EnvelopeVault, Keyring, MasterKey
from harbourmaster.vault import signing as module
from harbourmaster.vault.interface import DecryptionError, VaultError
from harbourmaster.vault.signing import (
    CheckpointPublicKey,
    CheckpointSigner,
    PublicKeyFormatError,
    SigningKeyError,
    generate_checkpoint_key,
    open_checkpoint_key,
)
from tests.components import ensure_binary

RECORD, FIELD = "audit-checkpoint", "signing_key"
TIME = "2026-01-02T03:04:05.000006Z"
HEAD = "ab" * 32


def test_exported_names_are_pinned() -> None:
    assert set(module.__all__) == {
        "CheckpointPublicKey", "CheckpointSigner", "PublicKeyFormatError", "SigningKeyError",
        "generate_checkpoint_key", "open_checkpoint_key",
    }
    assert issubclass(SigningKeyError, VaultError) and issubclass(PublicKeyFormatError, BadInput)
    assert PublicKeyFormatError.status == 422 and PublicKeyFormatError.kind != SigningKeyError.kind


def test_a_sealed_key_opens_to_the_same_signer_only_for_its_record_and_field(vault: EnvelopeVault) -> None:
    signer, sealed = generate_checkpoint_key(vault, record=RECORD, field=FIELD)
    opened = open_checkpoint_key(vault, sealed, record=RECORD, field=FIELD)
    assert opened.public_key == signer.public_key and opened.key_id == signer.key_id
    payload = checkpoint_payload(seq=1, head=HEAD, time=TIME, key_id=signer.key_id)
    assert signer.public_key.verify(payload, opened.sign(payload))
    for record, field in [("registry:x", FIELD), (RECORD, "credential")]:
        with pytest.raises(DecryptionError):
            open_checkpoint_key(vault, sealed, record=record, field=field)
    # Under another master key it does not open either.
    with pytest.raises(VaultError):
        open_checkpoint_key(EnvelopeVault(Keyring(MasterKey.generate())), sealed, record=RECORD, field=FIELD)


def test_the_private_key_never_shows(vault: EnvelopeVault) -> None:
    signer, sealed = generate_checkpoint_key(vault, record=RECORD, field=FIELD)
    assert repr(signer) == str(signer) == f"CheckpointSigner(key_id={signer.key_id!r})"
    assert not [name for name in dir(signer) if "private" in name.lower() and not name.startswith("_")]
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(signer)
    with pytest.raises(AttributeError):
        signer.public_key = signer.public_key  # type: ignore[misc]
    assert copy.copy(sealed) == sealed  # what is stored is only the sealed form
    secret = vault.open(sealed, record=RECORD, field=FIELD)
    raw = base64.b64decode(secret.reveal())
    assert raw not in sealed.to_bytes() and base64.b64encode(raw) not in sealed.to_bytes()


def test_a_sealed_value_that_is_not_a_key_is_refused(vault: EnvelopeVault) -> None:
    for value in ("not base64!", base64.b64encode(b"short").decode()):
        sealed = vault.seal(Secret(value), record=RECORD, field=FIELD)
        with pytest.raises(SigningKeyError, match=f"the sealed {FIELD} of {RECORD} is not"):
            open_checkpoint_key(vault, sealed, record=RECORD, field=FIELD)


def test_public_keys_from_pem(tmp_path: Path) -> None:
    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    key = CheckpointPublicKey.from_pem(signer.public_key.pem(), source="pub.pem")
    assert key == signer.public_key and hash(key) == hash(signer.public_key)
    assert "PUBLIC KEY" in key.pem() and repr(key) == f"CheckpointPublicKey(key_id={key.key_id!r})"
    ec_key = generate_private_key(SECP256R1()).public_key()
    ec = ec_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    for data, fragment in [(b"hello", "not a PEM public key"), (ec, "not an Ed25519 public key"),
                           ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a PEM")]:
        with pytest.raises(PublicKeyFormatError, match=f"pub.pem: {fragment}"):
            CheckpointPublicKey.from_pem(data, source="pub.pem")
    with pytest.raises(PublicKeyFormatError, match="32 bytes"):
        CheckpointPublicKey(b"\0" * 31)


def test_a_checkpoint_checked_by_openssl_from_the_documented_payload(tmp_path: Path) -> None:
    """An outside verifier needs only the documented payload, the PEM key and Ed25519 (here: OpenSSL)."""
    openssl = ensure_binary("openssl", "openssl")
    signer = CheckpointSigner(Ed25519PrivateKey.generate())
    payload = checkpoint_payload(seq=2, head=HEAD, time=TIME, key_id=signer.key_id)
    cp = Checkpoint(seq=2, head=HEAD, time=TIME, key_id=signer.key_id, signature=signer.sign(payload))
    line = json.loads(checkpoint_to_json_line(cp))
    pem = tmp_path / "key.pem"
    pem.write_text(signer.public_key.pem())
    body = json.dumps({k: line[k] for k in ("head", "key_id", "seq", "time")}, sort_keys=True,
                      separators=(",", ":"))
    (tmp_path / "payload").write_bytes(b"harbourmaster audit checkpoint v1\n" + body.encode())
    (tmp_path / "sig").write_bytes(base64.b64decode(line["signature"]))

    def openssl_verifies() -> bool:
        done = subprocess.run(
            [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(pem), "-rawin",
             "-in", str(tmp_path / "payload"), "-sigfile", str(tmp_path / "sig")],
            capture_output=True, check=False,
        )
        return done.returncode == 0

    assert openssl_verifies()
    # The key id is the SHA-256 of the raw key: the last 32 bytes of the DER SubjectPublicKeyInfo.
    der = subprocess.run([openssl, "pkey", "-pubin", "-in", str(pem), "-outform", "DER"],
                         capture_output=True, check=True).stdout
    assert hashlib.sha256(der[-32:]).hexdigest() == signer.key_id == checkpoint_key_id(der[-32:])
    # One byte changed: OpenSSL refuses it too.
    (tmp_path / "payload").write_bytes((tmp_path / "payload").read_bytes().replace(b'"seq":2', b'"seq":1'))
    assert not openssl_verifies()
