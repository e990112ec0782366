"""Keyless signatures in cosign's classic form: a ``.sig`` layer with a Fulcio certificate.

``cosign sign`` without a key (before cosign 3 made bundles the default) writes the
usual simple-signing layer and adds three annotations: the signing certificate
(``dev.sigstore.cosign/certificate``), its chain (``dev.sigstore.cosign/chain``) and
the Rekor bundle (``dev.sigstore.cosign/bundle``)::

    {"SignedEntryTimestamp": "<b64>",
     "Payload": {"body": "<b64 of the log entry>", "integratedTime": 1674247893,
                 "logIndex": 11606868, "logID": "<hex SHA-256 of the log's key>"}}

Verified offline against a sigstore trusted root, each step refusing with its reason:

1. the signature over the payload's exact bytes, with the certificate's key;
2. the signed entry timestamp: the log's key (from the trusted root, by log id) signed the
   canonical JSON of ``Payload`` (RFC 8785);
3. the log entry (``hashedrekord`` or ``rekord`` 0.0.1) is this signature: the payload's
   SHA-256, the same signature and the same certificate;
4. the certificate chains to a Fulcio CA of the trusted root, every link valid at the
   entry's integrated time (the certificate lives ten minutes; the log vouches it was
   used within them);
5. the certificate's issuer and identity match a trusted identity.

The payload itself (digest, annotations) is then checked as for a key-signed layer.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_der_public_key

from harbourmaster.signing.interface import SigningError
from harbourmaster.signing.keyless import KeylessIdentity, TrustRoot, certificate_identity
from harbourmaster.signing.oci import TagSignature
from harbourmaster.signing.payload import parse_payload
from harbourmaster.signing.signatures import decode_signature, verify_bytes
from harbourmaster.signing.verify import SignatureCheck

__all__ = ["check_legacy_keyless"]

_MAX_CHAIN = 8


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _certificates(pem: str, *, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem.encode())
    except ValueError:
        raise _Refused(f"the {what} annotation is not PEM certificates") from None
    if not certs or len(certs) > _MAX_CHAIN:
        raise _Refused(f"the {what} annotation holds {len(certs)} certificates")
    return certs


def _rekor_bundle(text: str) -> tuple[bytes, dict[str, Any]]:
    try:
        document = json.loads(text)
        payload = document["Payload"]
        set_signature = base64.b64decode(document["SignedEntryTimestamp"], validate=True)
        fields = {
            "body": str(payload["body"]),
            "integratedTime": int(payload["integratedTime"]),
            "logID": str(payload["logID"]),
            "logIndex": int(payload["logIndex"]),
        }
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _Refused("the Rekor bundle annotation is malformed") from None
    return set_signature, fields


def _valid_for(entry: Mapping[str, Any], at: dt.datetime) -> bool:
    """Whether ``at`` lies in a trusted-root entry's ``validFor`` (a closed interval; no end: open)."""
    window = entry.get("validFor") or {}
    try:
        start = dt.datetime.fromisoformat(str(window["start"]).replace("Z", "+00:00"))
        end = (
            dt.datetime.fromisoformat(str(window["end"]).replace("Z", "+00:00"))
            if window.get("end")
            else None
        )
    except (KeyError, ValueError):
        return False
    return start <= at and (end is None or at <= end)


def _check_set(root: TrustRoot, set_signature: bytes, fields: dict[str, Any]) -> None:
    """The signed entry timestamp: a transparency log of the trusted root (by log id, valid at the
    integrated time) signed the canonical JSON of the entry's fields."""
    import rfc8785

    at = dt.datetime.fromtimestamp(fields["integratedTime"], dt.UTC)
    for tlog in root.document.get("tlogs", []):
        key = tlog.get("publicKey") or {}
        try:
            der = base64.b64decode(key.get("rawBytes", ""), validate=True)
        except (binascii.Error, ValueError):
            continue
        if hashlib.sha256(der).hexdigest() != fields["logID"]:
            continue
        if not _valid_for(key, at):
            raise _Refused(
                f"the transparency log key of {tlog.get('baseUrl', 'the log')} was not valid at the "
                f"integrated time {at.isoformat()}"
            )
        try:
            public = load_der_public_key(der)
            if not isinstance(public, ec.EllipticCurvePublicKey):
                raise _Refused("the transparency log key is not an ECDSA key")
            public.verify(set_signature, rfc8785.dumps(fields), ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            raise _Refused(
                "the signed entry timestamp does not verify with the transparency log's key"
            ) from None
        return
    raise _Refused(
        f"the Rekor bundle names log {fields['logID'][:16]}..., which is not in the trusted root {root.name}"
    )


def _check_entry(
    fields: dict[str, Any], *, payload: bytes, signature: bytes, certificate: x509.Certificate
) -> None:
    try:
        body = json.loads(base64.b64decode(fields["body"], validate=True))
        spec = body["spec"]
        kind = body["kind"]
        hashed = spec["data"]["hash"]
        entry_signature = base64.b64decode(spec["signature"]["content"])
        entry_key = base64.b64decode(spec["signature"]["publicKey"]["content"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _Refused("the transparency log entry is malformed") from None
    if kind not in ("hashedrekord", "rekord") or body.get("apiVersion") != "0.0.1":
        raise _Refused(
            f"the transparency log entry is {kind} {body.get('apiVersion')}, not hashedrekord/rekord 0.0.1"
        )
    if hashed.get("algorithm") != "sha256" or hashed.get("value") != hashlib.sha256(payload).hexdigest():
        raise _Refused("the transparency log entry is for other bytes than this payload")
    if entry_signature != signature:
        raise _Refused("the transparency log entry holds another signature")
    try:
        logged = x509.load_pem_x509_certificate(entry_key)
    except ValueError:
        raise _Refused("the transparency log entry's key is not a certificate") from None
    if logged.public_bytes(Encoding.DER) != certificate.public_bytes(Encoding.DER):
        raise _Refused("the transparency log entry names another certificate")


def _fulcio_anchors(root: TrustRoot, at: dt.datetime) -> list[x509.Certificate]:
    """The certificates of the trusted root's CAs whose ``validFor`` covers ``at``."""
    anchors = []
    for authority in root.document.get("certificateAuthorities", []):
        if not _valid_for(authority, at):
            continue
        for entry in (authority.get("certChain") or {}).get("certificates", []):
            try:
                anchors.append(
                    x509.load_der_x509_certificate(base64.b64decode(entry["rawBytes"], validate=True))
                )
            except (KeyError, ValueError, binascii.Error):
                continue
    return anchors


def _check_chain(chain: Sequence[x509.Certificate], root: TrustRoot, at: dt.datetime) -> None:
    for cert in chain:
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise _Refused(
                f"certificate {cert.subject.rfc4514_string()} was not valid at the logged time "
                f"{at.isoformat()}"
            )
    for child, parent in itertools.pairwise(chain):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            raise _Refused(
                f"{child.subject.rfc4514_string()} is not issued by {parent.subject.rfc4514_string()}"
            ) from None
    anchors = _fulcio_anchors(root, at)
    last = chain[-1]
    if any(a.public_bytes(Encoding.DER) == last.public_bytes(Encoding.DER) for a in anchors):
        return
    for anchor in anchors:
        try:
            last.verify_directly_issued_by(anchor)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return
    raise _Refused(
        f"the certificate chain does not lead to a Fulcio CA of the trusted root {root.name} valid "
        f"at {at.isoformat()}"
    )


def check_legacy_keyless(
    signature: TagSignature,
    root: TrustRoot | None,
    identities: Sequence[KeylessIdentity],
    *,
    image_digest: str,
    annotations: Mapping[str, str] | None = None,
) -> SignatureCheck:
    """The verdict on a classic keyless layer (certificate annotations) of ``image_digest``."""
    location = signature.layer_digest
    source = f"signature layer {location}"

    def failed(reason: str) -> SignatureCheck:
        return SignatureCheck(form="tag", location=location, verified=False, reason=f"{source}: {reason}")

    if root is None or not identities:
        return failed("keyless (a Fulcio certificate); no trusted identity with a trusted root applies")
    if not signature.rekor_bundle:
        return failed(
            "keyless, but without a Rekor bundle there is no proof of when the short-lived "
            "certificate was used"
        )
    try:
        certificate = _certificates(signature.certificate or "", what="certificate")[0]
        chain = [certificate, *(_certificates(signature.chain, what="chain") if signature.chain else [])]
        raw = decode_signature(signature.signature, source=source)
        verify_bytes(certificate.public_key(), signature.payload, raw, source=source)  # type: ignore[arg-type]
        set_signature, fields = _rekor_bundle(signature.rekor_bundle)
        _check_set(root, set_signature, fields)
        _check_entry(fields, payload=signature.payload, signature=raw, certificate=certificate)
        _check_chain(chain, root, dt.datetime.fromtimestamp(fields["integratedTime"], dt.UTC))
        issuer, subjects = certificate_identity(certificate)
        matched = [i.name for i in identities if i.matches(issuer=issuer, subjects=subjects)]
        if not matched:
            raise _Refused(
                f"the certificate's identity {', '.join(subjects) or '(none)'} from issuer "
                f"{issuer or '(none)'} matches no trusted identity"
            )
        payload = parse_payload(signature.payload, source=source)
        payload.check(image_digest=image_digest, annotations=annotations or {}, source=source)
    except _Refused as exc:
        return failed(exc.reason)
    except SigningError as exc:
        reason = exc.message.removeprefix(f"{source}: ")
        return failed(reason)
    return SignatureCheck(
        form="tag",
        location=location,
        verified=True,
        reason=f"verified keyless: {', '.join(subjects)} from {issuer} (identity {matched[0]}), "
        f"logged at {fields['integratedTime']} in the transparency log of {root.name}",
        signer=matched[0],
        docker_reference=payload.docker_reference,
        annotations=payload.annotations,
    )
