"""Keyless (Fulcio certificate) sigstore bundles, verified offline with sigstore-python.

The checks are sigstore-python's (:class:`sigstore.verify.Verifier`) against a
trusted root given as data (``signing.trusted_root`` in the governance document,
a ``trusted_root.json``): the certificate chain to a Fulcio CA of the root, the
signed certificate timestamp, the transparency-log inclusion proof, checkpoint
and signed entry timestamp (or RFC 3161 timestamps), that the signature was
made while the certificate was valid, and the signature over the artifact or
DSSE envelope.  Nothing is fetched: no TUF, no network.

Which configured identity signed is harbourmaster's policy: the certificate's
OIDC issuer must equal the identity's ``issuer`` and one of its subject
alternative names (email, URI, or Sigstore "other name") must match the
identity's ``subject_regex`` in full.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harbourmaster.signing.bundle import IN_TOTO_PAYLOAD_TYPE, check_subject
from harbourmaster.signing.interface import KeyFormatError, SigningError
from harbourmaster.signing.verify import SignatureCheck

__all__ = [
    "KeylessIdentity",
    "TrustRoot",
    "certificate_identity",
    "check_keyless_blob",
    "check_keyless_bundle",
    "load_trusted_root",
]

_OTHERNAME_OID = "1.3.6.1.4.1.57264.1.7"
_ISSUER_V1_OID = "1.3.6.1.4.1.57264.1.1"
_ISSUER_V2_OID = "1.3.6.1.4.1.57264.1.8"
_MAX_TRUSTED_ROOT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class KeylessIdentity:
    """A keyless signer: an OIDC issuer and a regular expression the certificate's identity must match."""

    name: str
    issuer: str
    subject_regex: str

    def matches(self, *, issuer: str | None, subjects: Sequence[str]) -> bool:
        if issuer != self.issuer:
            return False
        pattern = re.compile(self.subject_regex)
        return any(pattern.fullmatch(s) for s in subjects)


@dataclass(frozen=True)
class TrustRoot:
    """A parsed sigstore trusted root (opaque to callers)."""

    name: str
    inner: Any = field(repr=False, compare=False)
    #: The document itself (its ``tlogs`` and ``certificateAuthorities`` for the classic keyless form).
    document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def load_trusted_root(data: bytes, *, source: str) -> TrustRoot:
    """Parse a sigstore ``trusted_root.json``.

    Raises:
        KeyFormatError: too large, or not a trusted root sigstore-python accepts (a missing
            validity start included).
    """
    if len(data) > _MAX_TRUSTED_ROOT_BYTES:
        raise KeyFormatError(f"{source}: {len(data)} bytes is too large for a trusted root")
    from sigstore.models import TrustedRoot
    from sigstore_models.trustroot import v1 as trustroot_v1

    try:
        return TrustRoot(source, TrustedRoot(trustroot_v1.TrustedRoot.from_json(data)), json.loads(data))
    except Exception as exc:  # pydantic/protobuf errors vary by version: all mean "not a trusted root"
        first = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise KeyFormatError(f"{source}: not a sigstore trusted root: {first}") from None


def certificate_identity(certificate: Any) -> tuple[str | None, list[str]]:
    from cryptography import x509

    issuer: str | None = None
    subjects: list[str] = []
    for extension in certificate.extensions:
        oid = extension.oid.dotted_string
        if oid == _ISSUER_V2_OID and isinstance(extension.value, x509.UnrecognizedExtension):
            raw = extension.value.value
            # DER UTF8String: tag 0x0c, a one-byte length for any issuer URL of sane size.
            if len(raw) >= 2 and raw[0] == 0x0C and raw[1] == len(raw) - 2:
                issuer = raw[2:].decode("utf-8", errors="replace")
        elif (
            oid == _ISSUER_V1_OID
            and issuer is None
            and isinstance(extension.value, x509.UnrecognizedExtension)
        ):
            issuer = extension.value.value.decode("utf-8", errors="replace")
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return issuer, subjects
    subjects.extend(san.get_values_for_type(x509.RFC822Name))
    subjects.extend(san.get_values_for_type(x509.UniformResourceIdentifier))
    subjects.extend(
        other.value.decode("utf-8", errors="replace")
        for other in san.get_values_for_type(x509.OtherName)
        if other.type_id.dotted_string == _OTHERNAME_OID
    )
    return issuer, subjects


class _IdentityPolicy:
    """A sigstore verification policy that passes when any configured identity matches, and records which."""

    def __init__(self, identities: Sequence[KeylessIdentity]) -> None:
        self.identities = identities
        self.matched: list[str] = []
        self.seen: tuple[str | None, list[str]] = (None, [])

    def verify(self, cert: Any) -> None:
        from sigstore.errors import VerificationError

        issuer, subjects = certificate_identity(cert)
        self.seen = (issuer, subjects)
        self.matched = [i.name for i in self.identities if i.matches(issuer=issuer, subjects=subjects)]
        if not self.matched:
            raise VerificationError(
                f"the certificate's identity {', '.join(subjects) or '(none)'} from issuer "
                f"{issuer or '(none)'} matches no trusted identity"
            )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:400]


def _verify(
    content: bytes,
    root: TrustRoot,
    identities: Sequence[KeylessIdentity],
    *,
    location: str,
    form: str,
    artifact: bytes | None,
    image_digest: str | None,
) -> SignatureCheck:
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle
    from sigstore.verify import Verifier

    def failed(reason: str) -> SignatureCheck:
        return SignatureCheck(form=form, location=location, verified=False, reason=reason)

    if not identities:
        return failed(f"{location}: keyless signature, but no trusted identity to check it against")
    try:
        bundle = Bundle.from_json(content)
    except SigstoreError as exc:
        return failed(f"{location}: not a valid sigstore bundle: {_first_line(exc)}")
    except Exception as exc:  # a malformed bundle surfaces as pydantic or base64 errors
        return failed(f"{location}: not a valid sigstore bundle: {_first_line(exc)}")
    policy = _IdentityPolicy(identities)
    verifier = Verifier(trusted_root=root.inner)
    try:
        if artifact is not None and bundle._dsse_envelope is None:
            verifier.verify_artifact(artifact, bundle, policy)
            subject_name = None
        else:
            # A DSSE bundle signs an in-toto statement; what it is about is the statement's subject.
            payload_type, payload = verifier.verify_dsse(bundle, policy)
            if payload_type != IN_TOTO_PAYLOAD_TYPE:
                return failed(f"{location}: DSSE payload type {payload_type!r} is not in-toto")
            wanted = image_digest if artifact is None else "sha256:" + hashlib.sha256(artifact).hexdigest()
            assert wanted is not None
            subject_name = check_subject(payload, image_digest=wanted, source=location)
    except SigningError as exc:
        return failed(exc.message)
    except Exception as exc:  # sigstore raises its VerificationError, InvalidBundle, CertValidationError, ...
        return failed(f"{location}: keyless verification failed: {_first_line(exc)}")
    issuer, subjects = policy.seen
    signer = policy.matched[0]
    return SignatureCheck(
        form=form,
        location=location,
        verified=True,
        reason=f"verified keyless: {', '.join(subjects)} from {issuer} (identity {signer}) "
        f"against trusted root {root.name}",
        signer=signer,
        docker_reference=subject_name,
    )


def check_keyless_bundle(
    content: bytes,
    root: TrustRoot,
    identities: Sequence[KeylessIdentity],
    *,
    image_digest: str,
    location: str,
) -> SignatureCheck:
    """The verdict on a keyless bundle whose DSSE statement must name ``image_digest``."""
    return _verify(
        content, root, identities, location=location, form="bundle", artifact=None, image_digest=image_digest
    )


def check_keyless_blob(
    content: bytes, artifact: bytes, root: TrustRoot, identities: Sequence[KeylessIdentity], *, location: str
) -> SignatureCheck:
    """The verdict on a keyless bundle over ``artifact`` (a message signature, or a DSSE statement
    about it)."""
    return _verify(
        content, root, identities, location=location, form="blob", artifact=artifact, image_digest=None
    )
