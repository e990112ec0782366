"""cosign key files: every vector key opens with its stated password and matches its public key;
what must fail fails with a reason; keys harbourmaster writes read back, and each algorithm signs."""

from __future__ import annotations

import base64
import json

import pytest

from harbourmaster.signing.interface import KeyFormatError, KeyPasswordError, VerificationFailed
from harbourmaster.signing.keys import (
    COSIGN_KEY_LABEL,
    SIGSTORE_KEY_LABEL,
    KeyAlgorithm,
    algorithm_of,
    decrypt_private_key,
    encrypt_private_key,
    fingerprint,
    generate_private_key,
    load_public_key,
    public_key_pem,
)
from harbourmaster.signing.signatures import sign_bytes, verify_bytes
from tests.signing._vectors import ENCRYPTED_KEYS, KEYS


@pytest.mark.parametrize(("stem", "password", "algorithm"), ENCRYPTED_KEYS)
def test_vector_keys_open_with_their_password_and_match_their_public_key(
    stem: str, password: bytes, algorithm: str
) -> None:
    key = decrypt_private_key((KEYS / f"{stem}.key").read_bytes(), password, source=stem)
    public = load_public_key((KEYS / "derived" / f"{stem}.pub").read_bytes(), source="pub")
    assert algorithm_of(key) == algorithm
    assert fingerprint(key) == fingerprint(public)
    signature = sign_bytes(key, b"payload")
    verify_bytes(public, b"payload", signature, source="round trip")
    with pytest.raises(VerificationFailed):
        verify_bytes(public, b"payload ", signature, source="round trip")


@pytest.mark.parametrize(("stem", "password", "algorithm"), ENCRYPTED_KEYS)
def test_vector_keys_refuse_a_wrong_password(stem: str, password: bytes, algorithm: str) -> None:
    with pytest.raises(KeyPasswordError, match="password does not open"):
        decrypt_private_key((KEYS / f"{stem}.key").read_bytes(), password + b"x", source=stem)


def test_the_cosign_ci_key_parses_but_its_unpublished_password_is_not_guessed() -> None:
    data = (KEYS / "cosign-ci-test.key").read_bytes()
    for guess in (b"", b"hello", b"123"):
        with pytest.raises(KeyPasswordError):
            decrypt_private_key(data, guess, source="cosign-ci-test.key")
    public = load_public_key((KEYS / "cosign-ci-test.pub").read_bytes(), source="cosign-ci-test.pub")
    assert algorithm_of(public) == KeyAlgorithm.ECDSA_P256


def test_a_sec1_plaintext_is_refused_as_cosign_refuses_it() -> None:
    with pytest.raises(KeyFormatError, match="not PKCS#8"):
        decrypt_private_key(
            (KEYS / "cosign-keystest-sec1-inner.cosign-label.key").read_bytes(), b"hello", source="sec1"
        )


@pytest.mark.parametrize("algorithm", list(KeyAlgorithm))
def test_generated_keys_of_every_algorithm_round_trip_through_the_cosign_format(
    algorithm: KeyAlgorithm,
) -> None:
    key = generate_private_key(algorithm)
    pem = encrypt_private_key(key, b"s3cret")
    assert pem.startswith(f"-----BEGIN {SIGSTORE_KEY_LABEL}-----\n".encode())
    body = b"".join(pem.splitlines()[1:-1])
    envelope = json.loads(base64.b64decode(body))
    assert envelope["kdf"]["name"] == "scrypt" and envelope["cipher"]["name"] == "nacl/secretbox"
    assert envelope["kdf"]["params"] == {"N": 65536, "r": 8, "p": 1}
    assert all(len(line) <= 64 for line in pem.splitlines())
    again = decrypt_private_key(pem, b"s3cret", source="written")
    assert algorithm_of(again) == algorithm
    public = load_public_key(public_key_pem(key), source="written pub")
    assert fingerprint(public) == fingerprint(key)
    verify_bytes(public, b"data", sign_bytes(again, b"data"), source="generated")


def test_the_older_cosign_label_is_read() -> None:
    data = (KEYS / "cosign-keystest-ecdsa-p256.cosign-label.key").read_bytes()
    assert f"BEGIN {COSIGN_KEY_LABEL}".encode() in data
    assert algorithm_of(decrypt_private_key(data, b"hello", source="k")) == KeyAlgorithm.ECDSA_P256


def _envelope_file(**changes: object) -> bytes:
    key = generate_private_key()
    pem = encrypt_private_key(key, b"pw")
    envelope = json.loads(base64.b64decode(b"".join(pem.splitlines()[1:-1])))
    for path, value in changes.items():
        target = envelope
        *parents, last = path.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    body = base64.b64encode(json.dumps(envelope).encode()).decode()
    return f"-----BEGIN {SIGSTORE_KEY_LABEL}-----\n{body}\n-----END {SIGSTORE_KEY_LABEL}-----\n".encode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kdf__name": "argon2"}, "unsupported key derivation"),
        ({"cipher__name": "aes-gcm"}, "unsupported cipher"),
        ({"kdf__params__N": 1 << 30}, "out of range"),
        ({"kdf__params__N": 1000}, "out of range"),
        ({"kdf__params__r": "8"}, "must be integers"),
        ({"cipher__nonce": "AAAA"}, "nonce must be 24 bytes"),
        ({"ciphertext": "***"}, "ciphertext is not base64"),
    ],
)
def test_malformed_key_files_name_what_is_wrong(changes: dict[str, object], message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        decrypt_private_key(_envelope_file(**changes), b"pw", source="bad.key")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a key", "not a cosign key file"),
        (
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
            "unencrypted",
        ),
        (
            f"-----BEGIN {SIGSTORE_KEY_LABEL}-----\n!!!\n-----END {SIGSTORE_KEY_LABEL}-----\n".encode(),
            "not base64",
        ),
        (f"-----BEGIN {SIGSTORE_KEY_LABEL}-----\nAAAA\n".encode(), "no END line"),
        (b"x" * 100_000, "too large"),
    ],
)
def test_text_that_is_not_a_cosign_key_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(KeyFormatError, match=message):
        decrypt_private_key(data, b"", source="bad.key")


def test_public_keys_of_the_wrong_kind_are_refused() -> None:
    with pytest.raises(KeyFormatError, match="not a PEM public key"):
        load_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", source="k.pub")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    pem = small.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyFormatError, match="1024 bits is not supported"):
        load_public_key(pem, source="small.pub")
    k1 = ec.generate_private_key(ec.SECP256K1()).public_key()
    pem = k1.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyFormatError, match="secp256k1 is not supported"):
        load_public_key(pem, source="k1.pub")
