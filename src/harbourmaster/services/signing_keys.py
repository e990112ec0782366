"""Signing keys kept in the vault: import a cosign key, generate one, list them, show a public half.

A key's private half is sealed by the vault (AES-256-GCM under the master key, bound
to the key's record and field) the moment it arrives and is opened only to sign; it
is never returned, printed, exported or logged (there is no export).  Its public half
(PEM) and fingerprint are what ``signing-key list`` and ``signing-key public`` show,
and what a governance document's ``signing.keys`` entry trusts.
"""

from __future__ import annotations

import base64
import re

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput, Conflict, NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.signing_results import SigningKeyPublic
from harbourmaster.services.signing_trust import read_key_file
from harbourmaster.signing.interface import SigningError
from harbourmaster.signing.keys import (
    KeyAlgorithm,
    PrivateKey,
    algorithm_of,
    decrypt_private_key,
    fingerprint,
    generate_private_key,
    load_pkcs8,
    private_key_der,
    public_key_pem,
)
from harbourmaster.store.values import SIGNING_KEY_FIELD, StoredSigningKey, signing_key_record
from harbourmaster.vault.interface import SealedSecret

__all__ = [
    "generate_signing_key",
    "import_signing_key",
    "list_signing_keys",
    "open_signing_key",
    "signing_key",
    "signing_key_public_pem",
]

_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$")


def _public(key: StoredSigningKey) -> SigningKeyPublic:
    return SigningKeyPublic(
        name=key.name,
        algorithm=key.algorithm,
        fingerprint=key.fingerprint,
        public_key=key.public_key_pem,
        created_at=key.created_at.isoformat(),
        created_by=key.created_by,
    )


def _check_name(name: str) -> None:
    if not _NAME.match(name):
        raise BadInput(
            f"signing key name {name!r} is not valid (lowercase letters, digits, '.', '_', '-'; at most 128)"
        )


def _keep(
    hm: Harbourmaster, principal: Principal, name: str, key: PrivateKey, *, how: str
) -> SigningKeyPublic:
    stored = StoredSigningKey(
        name=name,
        algorithm=algorithm_of(key).value,
        fingerprint=fingerprint(key),
        public_key_pem=public_key_pem(key),
        created_at=hm.clock.now(),
        created_by=principal.audit_name,
    )
    secret = Secret(base64.b64encode(private_key_der(key)).decode("ascii"))
    sealed = hm.vault.seal(secret, record=signing_key_record(name), field=SIGNING_KEY_FIELD).to_bytes()
    with hm.store.transaction() as tx:
        if not tx.signing.add_key(stored, sealed=sealed):
            raise Conflict(f"signing key {name} exists; keys are never replaced (choose another name)")
        tx.audit.append(
            actor=principal.audit_name,
            action=f"signing-key.{how}",
            target=name,
            details={"algorithm": stored.algorithm, "fingerprint": stored.fingerprint},
        )
    return _public(stored)


def import_signing_key(
    hm: Harbourmaster, principal: Principal, name: str, *, key_file: str, password: Secret
) -> SigningKeyPublic:
    """Keep the cosign key in ``key_file`` (read on this host, never one of harbourmaster's own files)
    in the vault under ``name``.  Audited as ``signing-key.import``.

    Raises:
        Forbidden: ``principal`` may not manage signing keys.
        BadInput: an invalid name.
        Conflict: a key of that name exists.
        KeyFormatError, KeyPasswordError: the file is not a cosign key, or the password does not open it.
        UnresolvedSecretError: the file cannot be read (or is one of harbourmaster's own).
    """
    require(principal, Permission.IMAGE_SIGN)
    _check_name(name)
    data = read_key_file(key_file, guard=hm.host_files())
    key = decrypt_private_key(data, password.reveal().encode("utf-8"), source=f"--key {key_file}")
    return _keep(hm, principal, name, key, how="import")


def generate_signing_key(
    hm: Harbourmaster, principal: Principal, name: str, *, algorithm: KeyAlgorithm = KeyAlgorithm.ECDSA_P256
) -> SigningKeyPublic:
    """Generate a key pair of ``algorithm`` in the vault under ``name``.  Audited as ``signing-key.generate``.

    Raises:
        Forbidden: ``principal`` may not manage signing keys.
        BadInput: an invalid name.
        Conflict: a key of that name exists.
    """
    require(principal, Permission.IMAGE_SIGN)
    _check_name(name)
    return _keep(hm, principal, name, generate_private_key(algorithm), how="generate")


def list_signing_keys(hm: Harbourmaster, principal: Principal) -> list[SigningKeyPublic]:
    """Every vault signing key's public half.

    Raises:
        Forbidden: ``principal`` may not read the governance model.
    """
    require(principal, Permission.GOVERNANCE_READ)
    with hm.store.read() as tx:
        return [_public(k) for k in tx.signing.list_keys()]


def signing_key(hm: Harbourmaster, principal: Principal, name: str) -> SigningKeyPublic:
    """The public half of vault key ``name``.

    Raises:
        Forbidden: ``principal`` may not read the governance model.
        NotFound: no such key.
    """
    require(principal, Permission.GOVERNANCE_READ)
    with hm.store.read() as tx:
        found = tx.signing.sealed_key(name)
        names = [k.name for k in tx.signing.list_keys()] if found is None else []
    if found is None:
        from harbourmaster.domain.spelling import did_you_mean

        raise NotFound(f"signing key {name} does not exist{did_you_mean(name, names)}")
    return _public(found[0])


def open_signing_key(hm: Harbourmaster, name: str) -> tuple[PrivateKey, StoredSigningKey]:
    """The private key of vault key ``name``, for signing only (callers have checked the permission).

    Raises:
        NotFound: no such key.
        VaultError: the sealed key does not open (another master key, or altered).
    """
    with hm.store.read() as tx:
        found = tx.signing.sealed_key(name)
    if found is None:
        raise NotFound(f"signing key {name} does not exist")
    stored, sealed = found
    secret = hm.vault.open(
        SealedSecret.from_bytes(sealed), record=signing_key_record(name), field=SIGNING_KEY_FIELD
    )
    key = load_pkcs8(base64.b64decode(secret.reveal()), source=f"signing key {name}")
    if fingerprint(key) != stored.fingerprint:
        raise SigningError(f"signing key {name}: the sealed key does not match its recorded public key")
    return key, stored


def signing_key_public_pem(hm: Harbourmaster, name: str) -> str:
    """The public PEM of vault key ``name`` (for verifying; callers have checked the permission).

    Raises:
        NotFound: no such key.
    """
    with hm.store.read() as tx:
        found = tx.signing.sealed_key(name)
    if found is None:
        raise NotFound(f"signing key {name} does not exist")
    return found[0].public_key_pem
