"""Paths into the shared test vectors (``tests/vectors``, copied unchanged; see its PROVENANCE.md)."""

from __future__ import annotations

from pathlib import Path

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "signing"
KEYS = VECTORS / "cosign" / "keys"
SIMPLE = VECTORS / "cosign" / "simple-signing"
CONTAINERS_IMAGE = SIMPLE / "containers-image"
SIGSTORE_RS = SIMPLE / "sigstore-rs"
BUNDLES = VECTORS / "bundles"
NOTATION = VECTORS / "notation"

#: (key file stem, password) as PROVENANCE.md states them; each has a derived public key.
ENCRYPTED_KEYS = [
    ("cosign-keystest-ecdsa-p256.cosign-label", b"hello", "ecdsa-p256"),
    ("cosign-keystest-ecdsa-p256.sigstore-label", b"hello", "ecdsa-p256"),
    ("sigstore-rs.cosign-generated-empty-password", b"", "ecdsa-p256"),
    ("sigstore-rs.ecdsa-p256", b"123", "ecdsa-p256"),
    ("sigstore-rs.ed25519", b"123", "ed25519"),
    ("sigstore-rs.rsa-4096", b"123", "rsa-4096"),
]
