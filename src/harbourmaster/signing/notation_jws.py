"""Notation JWS envelopes: parsed and checked for integrity (the first Notary Project step).

What :func:`parse_envelope` checks, each failure an :class:`Invalid` of validation
``integrity``: the envelope's JSON shape and size, the protected header (``alg``
matching the signing key, ``cty``, ``crit`` naming every extended attribute present,
the signing scheme and its time), the ``x5c`` chain's structure, the signature over
ASCII(``protected`` "." ``payload``) with the signing certificate's key, and the
payload naming the image's digest.  Trust (stores, identities, time, expiry) is
:mod:`harbourmaster.signing.notation`'s.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import json
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID

__all__ = [
    "MAX_CHAIN",
    "MAX_ENVELOPE_BYTES",
    "PAYLOAD_TYPE",
    "Envelope",
    "Invalid",
    "envelope_time",
    "parse_envelope",
]

PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
MAX_CHAIN = 10
#: A JWS envelope with a chain of a few certificates is a few kB.
MAX_ENVELOPE_BYTES = 1024 * 1024
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_RSA_ALGS = {2048: "PS256", 3072: "PS384", 4096: "PS512"}
_SCHEME_TIME = {
    "notary.x509": "io.cncf.notary.signingTime",
    "notary.x509.signingAuthority": "io.cncf.notary.authenticSigningTime",
}
# The extended attributes harbourmaster understands; each must be in crit when present.
_KNOWN_CRITICAL = {
    "io.cncf.notary.signingScheme",
    "io.cncf.notary.expiry",
    "io.cncf.notary.authenticSigningTime",
}


class Invalid(Exception):
    """A validation failed (internal: becomes the reason of a failed :class:`SignatureCheck`)."""

    def __init__(self, validation: str, detail: str) -> None:
        super().__init__(detail)
        self.validation = validation
        self.detail = detail


@dataclass(frozen=True)
class Envelope:
    header: dict[str, object]
    chain: tuple[x509.Certificate, ...]
    target_digest: str
    scheme: str


def _b64url(text: object, what: str) -> bytes:
    if not isinstance(text, str) or not _B64URL.match(text):
        raise Invalid("integrity", f"{what} is not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise Invalid("integrity", f"{what} is not base64url text") from None


def _json_object(raw: bytes, what: str) -> dict[str, object]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise Invalid("integrity", f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise Invalid("integrity", f"{what} is not a JSON object")
    return value


def envelope_time(header: dict[str, object], key: str) -> dt.datetime:
    value = header.get(key)
    try:
        parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise Invalid("integrity", f"protected header {key} is not an RFC 3339 time")
    return parsed


def _chain(header: object) -> tuple[x509.Certificate, ...]:
    x5c = header.get("x5c") if isinstance(header, dict) else None
    if not isinstance(x5c, list) or not x5c or len(x5c) > MAX_CHAIN:
        raise Invalid("integrity", f"unprotected header x5c must list 1 to {MAX_CHAIN} certificates")
    chain = []
    for i, text in enumerate(x5c):
        try:
            chain.append(x509.load_der_x509_certificate(base64.b64decode(text, validate=True)))
        except (TypeError, ValueError, binascii.Error):
            raise Invalid("integrity", f"x5c[{i}] is not a base64 DER certificate") from None
    return tuple(chain)


def _check_signature(alg: object, leaf: x509.Certificate, signed: bytes, signature: bytes) -> None:
    key = leaf.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        expected = _RSA_ALGS.get(key.key_size)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        expected = _EC_ALGS.get(key.curve.name)
    else:
        expected = None
    if expected is None:
        raise Invalid(
            "integrity", "the signing certificate's key is not RSA 2048/3072/4096 or ECDSA P-256/P-384/P-521"
        )
    if alg != expected:
        raise Invalid("integrity", f"alg {alg!r} does not match the signing key (expected {expected})")
    digest = _HASHES[expected[2:]]()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            key.verify(signature, signed, pss, digest)
        else:
            assert isinstance(key, ec.EllipticCurvePublicKey)
            size = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                raise Invalid(
                    "integrity", f"an {expected} signature is {2 * size} bytes, not {len(signature)}"
                )
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(digest))
    except InvalidSignature:
        raise Invalid(
            "integrity", "the signature does not verify with the signing certificate's key"
        ) from None


def _check_chain_structure(chain: tuple[x509.Certificate, ...]) -> None:
    leaf = chain[0]
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise Invalid("integrity", "the signing certificate has no keyUsage extension") from None
    if not usage.digital_signature:
        raise Invalid("integrity", "the signing certificate's keyUsage lacks digitalSignature")
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None and ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise Invalid("integrity", "the signing certificate's extendedKeyUsage lacks codeSigning")
    # Each certificate is issued by the next; the last is a self-signed root.
    for cert, issuer in [*itertools.pairwise(chain), (chain[-1], chain[-1])]:
        if issuer is not cert:
            try:
                is_ca = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            if not is_ca:
                raise Invalid(
                    "integrity",
                    f"x5c certificate {issuer.subject.rfc4514_string()} issues "
                    "certificates but is not a CA (basicConstraints)",
                )
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            what = (
                "is not self-signed (the chain must end at a root)"
                if issuer is cert
                else f"is not issued by {issuer.subject.rfc4514_string()}"
            )
            raise Invalid("integrity", f"x5c certificate {cert.subject.rfc4514_string()} {what}") from None


def parse_envelope(envelope: bytes, *, image_digest: str) -> Envelope:
    """Integrity: the envelope's structure, headers, signature, chain structure and target digest."""
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise Invalid("integrity", f"the envelope exceeds {MAX_ENVELOPE_BYTES} bytes")
    document = _json_object(envelope, "the envelope")
    for key in ("payload", "protected", "signature"):
        if not isinstance(document.get(key), str):
            raise Invalid("integrity", f"the JWS envelope has no {key} string")
    header = _json_object(_b64url(document["protected"], "protected"), "the protected header")
    if header.get("cty") != PAYLOAD_TYPE:
        raise Invalid("integrity", f"protected header cty {header.get('cty')!r} is not {PAYLOAD_TYPE}")
    scheme = header.get("io.cncf.notary.signingScheme")
    if scheme not in _SCHEME_TIME:
        raise Invalid(
            "integrity", f"signing scheme {scheme!r} is not notary.x509 or notary.x509.signingAuthority"
        )
    crit = header.get("crit")
    if not isinstance(crit, list) or not crit or not all(isinstance(c, str) for c in crit):
        raise Invalid("integrity", "protected header crit must be a non-empty list of header names")
    unknown = set(crit) - _KNOWN_CRITICAL
    if unknown:
        raise Invalid(
            "integrity",
            f"critical headers {sorted(unknown)} are not understood (a verification "
            "plugin, or a newer format); refused",
        )
    missing = {k for k in _KNOWN_CRITICAL if k in header} - set(crit)
    if missing:
        raise Invalid("integrity", f"headers {sorted(missing)} must be listed in crit")
    if set(crit) - set(header):
        raise Invalid("integrity", f"crit lists absent headers {sorted(set(crit) - set(header))}")
    envelope_time(header, _SCHEME_TIME[str(scheme)])
    if "io.cncf.notary.expiry" in header:
        envelope_time(header, "io.cncf.notary.expiry")
    chain = _chain(document.get("header"))
    signed = f"{document['protected']}.{document['payload']}".encode("ascii")
    _check_signature(header.get("alg"), chain[0], signed, _b64url(document["signature"], "signature"))
    _check_chain_structure(chain)
    payload = _json_object(_b64url(document["payload"], "payload"), "the payload")
    target = payload.get("targetArtifact")
    if (
        not isinstance(target, dict)
        or not isinstance(target.get("digest"), str)
        or not isinstance(target.get("mediaType"), str)
        or not isinstance(target.get("size"), int)
    ):
        raise Invalid("integrity", "the payload has no targetArtifact with mediaType, digest and size")
    if target["digest"] != image_digest:
        raise Invalid(
            "integrity",
            f"the signature is for {target['digest']}, not {image_digest}: copied from another image",
        )
    return Envelope(header=header, chain=chain, target_digest=str(target["digest"]), scheme=str(scheme))
