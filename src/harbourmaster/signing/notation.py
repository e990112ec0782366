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

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from harbourmaster.signing.artifacts import ArtifactBlob, read_artifacts
from harbourmaster.signing.interface import KeyFormatError
from harbourmaster.signing.notation_jws import (
    MAX_ENVELOPE_BYTES,
    Envelope,
    Invalid,
    envelope_time,
    parse_envelope,
)
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
_SCHEME_STORE = {"notary.x509": "ca", "notary.x509.signingAuthority": "signingAuthority"}


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
    envelope: Envelope, policy: NotationTrustPolicy, stores: Sequence[NotationTrustStore]
) -> str:
    """The trust store that anchors the chain; raises :class:`Invalid` if none or not a trusted identity."""
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
        raise Invalid(
            "authenticity",
            f"the certificate chain contains no certificate of the policy's {store_type} trust stores",
        )
    if not _trusted_identity(policy, envelope.chain[0]):
        subject = envelope.chain[0].subject.rfc4514_string()
        raise Invalid(
            "authenticity", f"the signing certificate {subject} does not match the trusted identities"
        )
    return anchor


def _authentic_timestamp(envelope: Envelope, now: dt.datetime) -> None:
    if envelope.scheme == "notary.x509.signingAuthority":
        at, when = (
            envelope_time(envelope.header, "io.cncf.notary.authenticSigningTime"),
            "the authentic signing time",
        )
    else:
        at, when = now, "the verification time (no trusted timestamp is checked)"
    for cert in envelope.chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise Invalid(
                "authenticTimestamp",
                f"certificate {cert.subject.rfc4514_string()} (valid "
                f"{cert.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to "
                f"{cert.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}) is not "
                f"valid at {when} {at.isoformat()}",
            )


def _expiry(envelope: Envelope, now: dt.datetime) -> None:
    if "io.cncf.notary.expiry" in envelope.header:
        expiry = envelope_time(envelope.header, "io.cncf.notary.expiry")
        if expiry < now:
            raise Invalid("expiry", f"the signature expired on {expiry.isoformat()}")


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
            raise Invalid(
                "integrity", f"media type {media_type!r} is not a Notation envelope ({JWS} or {COSE})"
            )
        parsed = parse_envelope(envelope, image_digest=image_digest)
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
            except Invalid as exc:
                if action == "enforce":
                    raise
                logged.append(f"{exc.validation} was set to log and failed: {exc.detail}")
            else:
                if validation == "authenticity":
                    anchor = result
    except Invalid as exc:
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
