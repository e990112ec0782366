"""Sign and verify images in their registries, and blobs outside one, in cosign's formats.

An image is always signed by digest: a tag is resolved first, and the signature
names the digest it pointed to.  Signatures are added to the image's
``sha256-<hex>.sig`` manifest beside the ones already there.  Verification reads
every signature of the image, checks each against the trusted keys, and
evaluates the signer policy (the keys given, or an environment's tier).

Keys come from a file given for one command (the CLI's ``--key``, read on this
host through the :class:`~harbourmaster.vault.references.HostFiles` guard, as
cosign reads ``cosign.key``).  Every signing is audited: who, which key (name and
fingerprint), which digest.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.model import Registry
from harbourmaster.domain.reference import ImageReference, parse_reference
from harbourmaster.domain.secret import Secret
from harbourmaster.domain.signers import SignerPolicy, SignersRequired
from harbourmaster.errors import BadInput, Error
from harbourmaster.registry import ClientOptions, Digest
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_endpoints import endpoint_for, provider_for, run_sync
from harbourmaster.services.signing_results import (
    BlobSignaturePublic,
    ImageSignaturePublic,
    ImageVerificationPublic,
    SignatureCheckPublic,
)
from harbourmaster.signing.keys import PrivateKey, decrypt_private_key, fingerprint, load_public_key
from harbourmaster.signing.oci import append_tag_signature, read_tag_signatures, signature_tag
from harbourmaster.signing.payload import build_payload
from harbourmaster.signing.signatures import sign_bytes
from harbourmaster.signing.verify import TrustedKey, check_blob_signature, check_tag_signature
from harbourmaster.vault.references import HostFiles, read_host_file

__all__ = [
    "KeyFile",
    "PublicKeyFile",
    "parse_annotations",
    "sign_blob",
    "sign_image",
    "verify_blob",
    "verify_image",
]

SIGNING_OPTIONS = ClientOptions(connect_timeout=10.0, read_timeout=60.0)
_MAX_KEY_FILE_BYTES = 64 * 1024
#: A blob signed or verified here is read into memory; the air-gap manifest is far smaller.
MAX_BLOB_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class KeyFile:
    """A cosign private key file on this host, for one command, and its password."""

    path: str
    password: Secret


@dataclass(frozen=True)
class PublicKeyFile:
    """A PEM public key (or certificate) file on this host, trusted for one command."""

    path: str


def parse_annotations(pairs: Sequence[str]) -> dict[str, str]:
    """``k=v`` pairs as a mapping.

    Raises:
        BadInput: a pair without ``=``, an empty key, or a key given twice.
    """
    annotations: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"--annotation {pair!r}: expected KEY=VALUE")
        if key in annotations:
            raise BadInput(f"--annotation {key!r} is given twice")
        annotations[key] = value
    return annotations


def _read(path: str, *, field: str, guard: HostFiles, limit: int, what: str) -> bytes:
    return read_host_file(path, field=field, guard=guard, limit=limit, what=what)


def _private_key(hm: Harbourmaster, source: KeyFile) -> tuple[PrivateKey, str]:
    data = _read(
        source.path, field="--key", guard=hm.host_files(), limit=_MAX_KEY_FILE_BYTES, what="key file"
    )
    key = decrypt_private_key(data, source.password.reveal().encode("utf-8"), source=f"--key {source.path}")
    return key, os.path.basename(source.path)


def _public_keys(hm: Harbourmaster | None, files: Sequence[PublicKeyFile]) -> list[TrustedKey]:
    guard = hm.host_files() if hm is not None else HostFiles.protecting(directories=[], files=[])
    keys: list[TrustedKey] = []
    for file in files:
        data = _read(file.path, field="--key", guard=guard, limit=_MAX_KEY_FILE_BYTES, what="public key file")
        keys.append(TrustedKey(file.path, load_public_key(data, source=f"--key {file.path}")))
    return keys


def sign_blob(
    hm: Harbourmaster, principal: Principal, data: bytes, *, key: KeyFile, what: str
) -> BlobSignaturePublic:
    """cosign ``sign-blob``: the base64 signature over ``data`` (``what`` names it in the audit record).

    Raises:
        Forbidden: ``principal`` may not sign.
        KeyFormatError, KeyPasswordError: the key file is not usable.
        UnresolvedSecretError: the key file cannot be read (or is one of harbourmaster's own).
    """
    require(principal, Permission.IMAGE_SIGN)
    private, name = _private_key(hm, key)
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
    data: bytes, signature: str, *, keys: Sequence[PublicKeyFile], what: str, hm: Harbourmaster | None = None
) -> SignatureCheckPublic:
    """cosign ``verify-blob``: whether ``signature`` (base64) over ``data`` verifies with one of ``keys``.

    Needs no data directory: the keys are files given for this command (with a core, its
    data directory and database are refused as key files).

    Raises:
        BadInput: no key given.
        KeyFormatError: a key file is not a public key.
        UnresolvedSecretError: a key file cannot be read.
    """
    if not keys:
        raise BadInput("give at least one --key PUBLIC_KEY to verify with")
    return SignatureCheckPublic.of(check_blob_signature(data, signature, _public_keys(hm, keys), source=what))


@dataclass(frozen=True)
class _Target:
    reference: ImageReference
    registry: Registry


def _target(hm: Harbourmaster, image: str) -> _Target:
    from harbourmaster.services.sbom_ops import ImageNotInApprovedRegistry

    ref = parse_reference(image)
    snapshot = hm.snapshot()
    name = snapshot.index.lookup(ref)
    if name is None:
        raise ImageNotInApprovedRegistry(
            f"image {ref.normalized} is in no approved registry; harbourmaster signs and verifies only "
            "images in approved registries",
            details=["define the registry in the governance model, or use an image from an approved one"],
        )
    return _Target(ref, snapshot.registries[name])


def _repository_reference(target: _Target) -> str:
    """What cosign puts in ``docker-reference``: the repository, without tag or digest."""
    return target.reference.repository


def sign_image(
    hm: Harbourmaster,
    principal: Principal,
    image: str,
    *,
    key: KeyFile,
    annotations: Mapping[str, str] | None = None,
) -> ImageSignaturePublic:
    """Sign ``image`` (resolved to its digest) and add the signature to its ``.sig`` manifest.

    Audited as ``image.sign`` (failures too) with the key's name and fingerprint and the digest.

    Raises:
        Forbidden: ``principal`` may not sign.
        ImageNotInApprovedRegistry, ReferenceError: the image is not one harbourmaster may sign.
        KeyFormatError, KeyPasswordError, UnresolvedSecretError: the key is not usable.
        NotFoundInRegistry: no such tag or digest.
        RegistryError: the registry failed or refused the push.
    """
    require(principal, Permission.IMAGE_SIGN)
    target = _target(hm, image)
    private, key_name = _private_key(hm, key)
    key_fingerprint = fingerprint(private)
    actor = principal.audit_name
    details: dict[str, object] = {
        "registry": target.registry.name,
        "key": key_name,
        "key_fingerprint": key_fingerprint,
        "format": "tag",
    }
    try:
        endpoint, development_only = endpoint_for(hm, target.registry, actor=actor, purpose="image.sign")
        provider = provider_for(hm, target.registry, actor=actor, purpose="image.sign")

        async def push() -> tuple[Digest, bytes, str, str]:
            async with hm.registry_clients.client(
                endpoint, provider=provider, options=SIGNING_OPTIONS, development_only=development_only
            ) as client:
                ref = target.reference
                digest = ref.digest or await client.resolve(ref.path, ref.tag or "latest")
                if ref.digest:
                    await client.head_manifest(ref.path, ref.digest)
                payload = build_payload(
                    docker_reference=_repository_reference(target),
                    image_digest=digest,
                    annotations=annotations,
                )
                signature = base64.b64encode(sign_bytes(private, payload)).decode()
                location = await append_tag_signature(
                    client, ref.path, image_digest=digest, payload=payload, signature_b64=signature
                )
                return Digest(digest), payload, signature, location

        digest, _, signature, location = run_sync(push())
    except Error as exc:
        with hm.store.transaction() as tx:
            tx.audit.append(
                actor=actor,
                action="image.sign",
                target=target.reference.normalized,
                result="failed",
                details={**details, "error": exc.message},
            )
        raise
    details.update(digest=str(digest), signature_manifest=location)
    with hm.store.transaction() as tx:
        tx.audit.append(actor=actor, action="image.sign", target=target.reference.normalized, details=details)
    return ImageSignaturePublic(
        image=target.reference.normalized,
        image_digest=str(digest),
        format="tag",
        key=key_name,
        key_fingerprint=key_fingerprint,
        signature=signature,
        location=f"{target.reference.repository}:{signature_tag(str(digest))}",
        annotations=dict(annotations or {}),
    )


def verify_image(
    hm: Harbourmaster,
    principal: Principal,
    image: str,
    *,
    keys: Sequence[PublicKeyFile],
    annotations: Mapping[str, str] | None = None,
    required: SignersRequired = SignersRequired.ANY,
) -> ImageVerificationPublic:
    """Find every signature of ``image`` and check it against ``keys``; the policy is met when
    ``required`` (any/all) of the keys verified a signature for the image's digest.

    Raises:
        Forbidden: ``principal`` may not verify (it uses the registry's stored credential).
        BadInput: no key given.
        ImageNotInApprovedRegistry, ReferenceError: the image is not in an approved registry.
        KeyFormatError, UnresolvedSecretError: a key file is not usable.
        NotFoundInRegistry: no such tag or digest.
        RegistryError: the registry failed.
    """
    require(principal, Permission.REGISTRY_PROBE)
    if not keys:
        raise BadInput("give at least one --key PUBLIC_KEY to verify with")
    target = _target(hm, image)
    trusted = _public_keys(hm, keys)
    actor = principal.audit_name
    endpoint, development_only = endpoint_for(hm, target.registry, actor=actor, purpose="image.verify")
    provider = provider_for(hm, target.registry, actor=actor, purpose="image.verify")

    async def fetch() -> tuple[str, list[SignatureCheckPublic]]:
        async with hm.registry_clients.client(
            endpoint, provider=provider, options=SIGNING_OPTIONS, development_only=development_only
        ) as client:
            ref = target.reference
            digest = ref.digest or await client.resolve(ref.path, ref.tag or "latest")
            found = await read_tag_signatures(client, ref.path, digest)
            checks = [
                SignatureCheckPublic.of(
                    check_tag_signature(s, trusted, image_digest=digest, annotations=annotations)
                )
                for s in found
            ]
            return digest, checks

    digest, checks = run_sync(fetch())
    names = tuple(k.name for k in trusted)
    verified = sorted({c.signer for c in checks if c.verified and c.signer})
    verdict = SignerPolicy(names, required).evaluate(verified)
    reason = verdict.reason if checks else f"no signature found ({signature_tag(digest)} does not exist)"
    return ImageVerificationPublic(
        image=target.reference.normalized,
        image_digest=digest,
        satisfied=verdict.satisfied and bool(checks),
        reason=reason,
        required=list(names),
        mode=required.value,
        verified_signers=verified,
        signatures=checks,
    )
