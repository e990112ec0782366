"""cosign ``sign-blob`` and ``verify-blob``: detached signatures over files outside a registry.

The air-gap bundle manifest is signed and checked this way.  Signing takes a key
file given for the command or a vault key by name, and is audited; verifying needs
only public keys (files, or vault keys' public halves) and reads no other state.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.signing_results import BlobSignaturePublic, SignatureCheckPublic
from harbourmaster.services.signing_sources import KeySource, private_key
from harbourmaster.services.signing_trust import PublicKeyFile, key_trust, public_key_files
from harbourmaster.signing.keys import fingerprint
from harbourmaster.signing.signatures import sign_bytes
from harbourmaster.signing.verify import check_blob_signature
from harbourmaster.vault.references import HostFiles

__all__ = ["MAX_BLOB_BYTES", "sign_blob", "verify_blob"]

#: A blob signed or verified here is read into memory; the air-gap manifest is far smaller.
MAX_BLOB_BYTES = 256 * 1024 * 1024


def sign_blob(
    hm: Harbourmaster, principal: Principal, data: bytes, *, key: KeySource, what: str
) -> BlobSignaturePublic:
    """The base64 signature over ``data`` (``what`` names it in the audit record, ``blob.sign``).

    Raises:
        Forbidden: ``principal`` may not sign.
        KeyFormatError, KeyPasswordError: the key file is not usable.
        NotFound: no such vault key.
        UnresolvedSecretError: the key file cannot be read (or is one of harbourmaster's own).
    """
    require(principal, Permission.IMAGE_SIGN)
    private, name = private_key(hm, key)
    signature = base64.b64encode(sign_bytes(private, data)).decode()
    result = BlobSignaturePublic(
        signature=signature,
        key=name,
        key_fingerprint=fingerprint(private),
        blob_sha256=hashlib.sha256(data).hexdigest(),
    )
    with hm.store.transaction() as tx:
        tx.audit.append(
            actor=principal.audit_name,
            action="blob.sign",
            target=what,
            details={"key": name, "key_fingerprint": result.key_fingerprint, "sha256": result.blob_sha256},
        )
    return result


def verify_blob(
    data: bytes,
    signature: str,
    *,
    keys: Sequence[PublicKeyFile],
    what: str,
    hm: Harbourmaster | None = None,
    vault_keys: Sequence[str] = (),
) -> SignatureCheckPublic:
    """Whether ``signature`` (base64) over ``data`` verifies with one of ``keys`` (or vault keys, which
    need ``hm``).  Without ``hm`` nothing but the key files is read.

    Raises:
        BadInput: no key given.
        KeyFormatError: a key file is not a public key.
        NotFound: no such vault key.
        UnresolvedSecretError: a key file cannot be read.
    """
    if hm is not None:
        trusted = list(key_trust(hm, files=keys, vault_keys=vault_keys).keys)
    else:
        from harbourmaster.errors import BadInput

        if not keys:
            raise BadInput("give at least one --key PUBLIC_KEY to verify with")
        # No data directory: nothing of harbourmaster's own to protect on this host.
        trusted = public_key_files(keys, guard=HostFiles.protecting(directories=[], files=[]))
    return SignatureCheckPublic.of(check_blob_signature(data, signature, trusted, source=what))
