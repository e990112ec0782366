"""Notation (Notary Project) signatures, verified offline.

A Notation signature is an OCI artifact manifest (artifactType and config media
type ``application/vnd.cncf.notary.signature``) whose ``subject`` is the signed
image and whose one layer is the signature envelope: JWS (``application/jose+json``,
JSON flattened serialization) or COSE_Sign1 (``application/cose``).  The JWS
envelope is ``{"payload", "protected", "header", "signature"}``:

* ``protected`` (base64url JSON): ``alg`` (PS256/384/512, ES256/384/512, matching the
  signing key), ``cty`` ``application/vnd.cncf.notary.payload.v1+json``, ``crit``,
  ``io.cncf.notary.signingScheme`` (``notary.x509`` with ``io.cncf.notary.signingTime``,
  or ``notary.x509.signingAuthority`` with ``io.cncf.notary.authenticSigningTime``) and
  optionally ``io.cncf.notary.expiry``;
* ``header``: ``x5c``, the certificate chain (base64 DER, signing certificate first);
* ``payload`` (base64url JSON): ``{"targetArtifact": {"mediaType", "digest", "size"}}``;
* ``signature``: over ASCII(``protected`` "." ``payload``) with the key of ``x5c[0]``.

Verification follows the Notary Project steps under the trust policy chosen for the
repository (see :mod:`harbourmaster.signing.notation_policy`): integrity (envelope,
headers, signature, chain structure, payload naming the image), authenticity (a
certificate of the chain is one of the policy's trust-store certificates, compared
as whole certificates, and the signing certificate's subject is a trusted identity),
authenticTimestamp (the chain valid at ``now``, or at the authentic signing time for
the signingAuthority scheme) and expiry.

Not checked: revocation (OCSP/CRL need the network; treated as certificates with no
revocation information), RFC 3161 timestamp countersignatures (ignored, so a timestamped
signature whose certificate has expired fails authenticTimestamp: fail closed),
verification plugins (a signature that requires one fails).  COSE envelopes are
refused (fail closed).  A ``skip`` policy never verifies a signature.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from harbourmaster.signing.artifacts import ArtifactBlob, read_artifacts
from harbourmaster.signing.interface import KeyFormatError
from harbourmaster.signing.notation_policy import (
    NotationTrustPolicy,
    NotationTrustStore,
    parse_trusted_dn,
    select_policy,
    subject_attributes,
)
from harbourmaster.signing.verify import SignatureCheck

if TYPE_CHECKING:
    from harbourmaster.registry import RegistryClient

__all__ = [
    "COSE",
    "JWS",
    "NOTATION_ARTIFACT",
    "check_notation_signature",
    "read_notation_signatures",
]

NOTATION_ARTIFACT = "application/vnd.cncf.notary.signature"
JWS = "application/jose+json"
COSE = "application/cose"
PAYLOAD_TYPE = "application/vnd.cncf.notary.payload.v1+json"
MAX_ENVELOPE_BYTES = 1024 * 1024
MAX_CHAIN = 10
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
_SCHEME_STORE = {"notary.x509": "ca", "notary.x509.signingAuthority": "signingAuthority"}
# The extended attributes harbourmaster understands; each must be in crit when present.
_KNOWN_CRITICAL = {
    "io.cncf.notary.signingScheme",
    "io.cncf.notary.expiry",
    "io.cncf.notary.authenticSigningTime",
}


class _Invalid(Exception):
    """A validation failed (internal: becomes the reason of a failed :class:`SignatureCheck`)."""

    def __init__(self, validation: str, detail: str) -> None:
        super().__init__(detail)
        self.validation = validation
        self.detail = detail


@dataclass(frozen=True)
class _Envelope:
    header: dict[str, object]
    chain: tuple[x509.Certificate, ...]
    target_digest: str
    scheme: str


async def read_notation_signatures(
    client: RegistryClient, repository: str, image_digest: str
) -> list[ArtifactBlob]:
    """Every Notation signature artifact referring to ``image_digest``, each read or with its problem.

    Raises:
        SignatureFormatError: too many signature artifacts (refused as a whole).
        RegistryError: the referrers lookup failed.
    """
    return await read_artifacts(
        client,
        repository,
        image_digest,
        artifact_type=NOTATION_ARTIFACT,
        layer_types=frozenset({JWS, COSE}),
        max_bytes=MAX_ENVELOPE_BYTES,
    )


def _b64url(text: object, what: str) -> bytes:
    if not isinstance(text, str) or not _B64URL.match(text):
        raise _Invalid("integrity", f"{what} is not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _Invalid("integrity", f"{what} is not base64url text") from None


def _json_object(raw: bytes, what: str) -> dict[str, object]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise _Invalid("integrity", f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise _Invalid("integrity", f"{what} is not a JSON object")
    return value


def _time(header: dict[str, object], key: str) -> dt.datetime:
    value = header.get(key)
    try:
        parsed = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise _Invalid("integrity", f"protected header {key} is not an RFC 3339 time")
    return parsed


def _chain(header: object) -> tuple[x509.Certificate, ...]:
    x5c = header.get("x5c") if isinstance(header, dict) else None
    if not isinstance(x5c, list) or not x5c or len(x5c) > MAX_CHAIN:
        raise _Invalid("integrity", f"unprotected header x5c must list 1 to {MAX_CHAIN} certificates")
    chain = []
    for i, text in enumerate(x5c):
        try:
            chain.append(x509.load_der_x509_certificate(base64.b64decode(text, validate=True)))
        except (TypeError, ValueError, binascii.Error):
            raise _Invalid("integrity", f"x5c[{i}] is not a base64 DER certificate") from None
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
        raise _Invalid(
            "integrity", "the signing certificate's key is not RSA 2048/3072/4096 or ECDSA P-256/P-384/P-521"
        )
    if alg != expected:
        raise _Invalid("integrity", f"alg {alg!r} does not match the signing key (expected {expected})")
    digest = _HASHES[expected[2:]]()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            key.verify(signature, signed, pss, digest)
        else:
            assert isinstance(key, ec.EllipticCurvePublicKey)
            size = (key.curve.key_size + 7) // 8
            if len(signature) != 2 * size:
                raise _Invalid(
                    "integrity", f"an {expected} signature is {2 * size} bytes, not {len(signature)}"
                )
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(digest))
    except InvalidSignature:
        raise _Invalid(
            "integrity", "the signature does not verify with the signing certificate's key"
        ) from None


def _check_chain_structure(chain: tuple[x509.Certificate, ...]) -> None:
    leaf = chain[0]
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        raise _Invalid("integrity", "the signing certificate has no keyUsage extension") from None
    if not usage.digital_signature:
        raise _Invalid("integrity", "the signing certificate's keyUsage lacks digitalSignature")
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None and ExtendedKeyUsageOID.CODE_SIGNING not in eku:
        raise _Invalid("integrity", "the signing certificate's extendedKeyUsage lacks codeSigning")
    # Each certificate is issued by the next; the last is a self-signed root.
    for cert, issuer in [*itertools.pairwise(chain), (chain[-1], chain[-1])]:
        if issuer is not cert:
            try:
                is_ca = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            if not is_ca:
                raise _Invalid(
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
            raise _Invalid("integrity", f"x5c certificate {cert.subject.rfc4514_string()} {what}") from None


def _parse(envelope: bytes, *, image_digest: str) -> _Envelope:
    """Integrity: the envelope's structure, headers, signature, chain structure and target digest."""
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise _Invalid("integrity", f"the envelope exceeds {MAX_ENVELOPE_BYTES} bytes")
    document = _json_object(envelope, "the envelope")
    for key in ("payload", "protected", "signature"):
        if not isinstance(document.get(key), str):
            raise _Invalid("integrity", f"the JWS envelope has no {key} string")
    header = _json_object(_b64url(document["protected"], "protected"), "the protected header")
    if header.get("cty") != PAYLOAD_TYPE:
        raise _Invalid("integrity", f"protected header cty {header.get('cty')!r} is not {PAYLOAD_TYPE}")
    scheme = header.get("io.cncf.notary.signingScheme")
    if scheme not in _SCHEME_TIME:
        raise _Invalid(
            "integrity", f"signing scheme {scheme!r} is not notary.x509 or notary.x509.signingAuthority"
        )
    crit = header.get("crit")
    if not isinstance(crit, list) or not crit or not all(isinstance(c, str) for c in crit):
        raise _Invalid("integrity", "protected header crit must be a non-empty list of header names")
    unknown = set(crit) - _KNOWN_CRITICAL
    if unknown:
        raise _Invalid(
            "integrity",
            f"critical headers {sorted(unknown)} are not understood (a verification "
            "plugin, or a newer format); refused",
        )
    missing = {k for k in _KNOWN_CRITICAL if k in header} - set(crit)
    if missing:
        raise _Invalid("integrity", f"headers {sorted(missing)} must be listed in crit")
    if set(crit) - set(header):
        raise _Invalid("integrity", f"crit lists absent headers {sorted(set(crit) - set(header))}")
    _time(header, _SCHEME_TIME[str(scheme)])
    if "io.cncf.notary.expiry" in header:
        _time(header, "io.cncf.notary.expiry")
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
        raise _Invalid("integrity", "the payload has no targetArtifact with mediaType, digest and size")
    if target["digest"] != image_digest:
        raise _Invalid(
            "integrity",
            f"the signature is for {target['digest']}, not {image_digest}: copied from another image",
        )
    return _Envelope(header=header, chain=chain, target_digest=str(target["digest"]), scheme=str(scheme))


def _trusted_identity(policy: NotationTrustPolicy, leaf: x509.Certificate) -> bool:
    if "*" in policy.trusted_identities:
        return True
    subject = subject_attributes(leaf.subject)
    for identity in policy.trusted_identities:
        trusted = parse_trusted_dn(identity.partition(":")[2], where=f"trust policy {policy.name!r}")
        # As Notation matches: every attribute the trusted identity names must be the subject's.
        if trusted <= subject:
            return True
    return False


def _authenticity(
    envelope: _Envelope, policy: NotationTrustPolicy, stores: Sequence[NotationTrustStore]
) -> str:
    """The trust store that anchors the chain; raises :class:`_Invalid` if none or not a trusted identity."""
    store_type = _SCHEME_STORE[envelope.scheme]
    by_reference = {s.reference: s for s in stores}
    for reference in policy.trust_stores:
        if reference not in by_reference:
            raise KeyFormatError(
                f"trust policy {policy.name!r} names trust store {reference!r}, which is not configured"
            )
    chain_der = {c.public_bytes(Encoding.DER) for c in envelope.chain}
    anchor = None
    for reference in policy.trust_stores:
        store = by_reference[reference]
        if store.type != store_type:
            continue
        if any(c.public_bytes(Encoding.DER) in chain_der for c in store.certificates):
            anchor = reference
            break
    if anchor is None:
        raise _Invalid(
            "authenticity",
            f"the certificate chain contains no certificate of the policy's {store_type} trust stores",
        )
    if not _trusted_identity(policy, envelope.chain[0]):
        subject = envelope.chain[0].subject.rfc4514_string()
        raise _Invalid(
            "authenticity", f"the signing certificate {subject} does not match the trusted identities"
        )
    return anchor


def _authentic_timestamp(envelope: _Envelope, now: dt.datetime) -> None:
    if envelope.scheme == "notary.x509.signingAuthority":
        at, when = _time(envelope.header, "io.cncf.notary.authenticSigningTime"), "the authentic signing time"
    else:
        at, when = now, "the verification time (no trusted timestamp is checked)"
    for cert in envelope.chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise _Invalid(
                "authenticTimestamp",
                f"certificate {cert.subject.rfc4514_string()} (valid "
                f"{cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to "
                f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}) is not "
                f"valid at {when} {at.isoformat()}",
            )


def _expiry(envelope: _Envelope, now: dt.datetime) -> None:
    if "io.cncf.notary.expiry" in envelope.header:
        expiry = _time(envelope.header, "io.cncf.notary.expiry")
        if expiry < now:
            raise _Invalid("expiry", f"the signature expired on {expiry.isoformat()}")


def check_notation_signature(
    envelope: bytes,
    media_type: str,
    *,
    repository: str,
    image_digest: str,
    policies: Sequence[NotationTrustPolicy],
    stores: Sequence[NotationTrustStore],
    now: dt.datetime,
    location: str,
) -> SignatureCheck:
    """The verdict on one Notation envelope of ``repository@image_digest`` at time ``now``.

    Bad envelope content is a failed check with its reason, never an exception.  ``signer`` is the
    name of the trust policy that accepted it; the reason names the anchoring trust store and any
    validation the policy only logged.

    Raises:
        KeyFormatError: the selected policy names a trust store that is not in ``stores``.
    """
    policy = select_policy(policies, repository)

    def failed(reason: str) -> SignatureCheck:
        return SignatureCheck(
            form="notation",
            location=location,
            verified=False,
            reason=reason,
            signer=None if policy is None else policy.name,
        )

    if policy is None:
        return failed(f"no Notation trust policy covers {repository} (neither its name nor '*' is a scope)")
    if policy.level == "skip":
        return failed(
            f"trust policy {policy.name} skips verification; harbourmaster never counts a skipped signature"
        )
    if media_type == COSE:
        return failed("COSE Notation envelopes are not supported yet; refused")
    logged: list[str] = []
    anchor: str | None = None
    try:
        if media_type != JWS:
            raise _Invalid(
                "integrity", f"media type {media_type!r} is not a Notation envelope ({JWS} or {COSE})"
            )
        parsed = _parse(envelope, image_digest=image_digest)
        for validation, step in (
            ("authenticity", lambda: _authenticity(parsed, policy, stores)),
            ("authenticTimestamp", lambda: _authentic_timestamp(parsed, now)),
            ("expiry", lambda: _expiry(parsed, now)),
        ):
            action = policy.action(validation)
            if action == "skip":
                continue
            try:
                result = step()
            except _Invalid as exc:
                if action == "enforce":
                    raise
                logged.append(f"{exc.validation} was set to log and failed: {exc.detail}")
            else:
                if validation == "authenticity":
                    anchor = result
    except _Invalid as exc:
        return failed(
            f"{exc.validation} validation failed under trust policy {policy.name} "
            f"({policy.level}): {exc.detail}"
        )
    if anchor is None:
        # The audit level only logs a failed authenticity check; a signature nobody trusted
        # is never counted as a signer's here (fail closed).
        return failed(
            f"authenticity not established under trust policy {policy.name} ({policy.level}); "
            "harbourmaster counts only signatures from a trusted certificate"
            + ("; logged: " + "; ".join(logged) if logged else "")
        )
    reason = f"verified by trust policy {policy.name} ({policy.level}), anchored in trust store {anchor}"
    reason += "; revocation not checked (offline)"
    if logged:
        reason += "; logged: " + "; ".join(logged)
    leaf = parsed.chain[0]
    return SignatureCheck(
        form="notation",
        location=location,
        verified=True,
        reason=reason,
        signer=policy.name,
        key_fingerprint=leaf.fingerprint(hashes.SHA256()).hex(),
        annotations={
            "io.cncf.notary.signingScheme": parsed.scheme,
            "x509.subject": leaf.subject.rfc4514_string(),
        },
    )
