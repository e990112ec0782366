"""Signatures and signing keys: sign and verify images and blobs; keys kept in the vault.

Through the API a signing key is always one kept in the vault (by name): the
server reads no key file on anyone's behalf.  Signing needs the platform-engineer
role or above; verifying against an environment's policy needs access to the
environment; verifying with named keys uses the registry's stored credential, so
registry operators only.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from harbourmaster.api.deps import CoreDep, CurrentPrincipal, RequirePermission
from harbourmaster.api.problems import REGISTRY_PROBLEMS, problem_responses
from harbourmaster.api.signing_schemas import (
    BlobSignBody,
    BlobVerifyBody,
    ImageSignBody,
    ImageVerifyBody,
    SigningKeyCreate,
)
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.signers import SignersRequired
from harbourmaster.errors import BadInput
from harbourmaster.services.signing import sign_image, verify_image
from harbourmaster.services.signing_blobs import sign_blob, verify_blob
from harbourmaster.services.signing_keys import generate_signing_key, list_signing_keys, signing_key
from harbourmaster.services.signing_results import (
    BlobSignaturePublic,
    ImageSignaturePublic,
    ImageVerificationPublic,
    SignatureCheckPublic,
    SigningKeyPublic,
)
from harbourmaster.services.signing_sources import VaultKey
from harbourmaster.signing.keys import KeyAlgorithm

__all__ = ["router"]

router = APIRouter(tags=["signatures"])

Signer = Annotated[Principal, Depends(RequirePermission(Permission.IMAGE_SIGN))]
Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
KeyName = Annotated[str, Path(pattern=r"^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$")]
_MAX_BLOB = 512 * 1024


def _blob(text: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadInput("data_base64: not base64") from None
    if len(data) > _MAX_BLOB:
        raise BadInput(
            f"data_base64: {len(data)} bytes is over the {_MAX_BLOB}-byte limit of the API "
            "(sign larger files with the CLI)"
        )
    return data


@router.post(
    "/signatures/sign", response_model=ImageSignaturePublic, status_code=201, responses=REGISTRY_PROBLEMS
)
def sign(body: ImageSignBody, hm: CoreDep, principal: Signer) -> ImageSignaturePublic:
    """Sign an image by digest with a vault key; the signature is stored beside the image."""
    return sign_image(
        hm,
        principal,
        body.image,
        key=VaultKey(body.signing_key),
        annotations=body.annotations,
        fmt=body.format,
    )


# Forbidden comes from the service: verifying with named keys is for registry operators only.
@router.post(
    "/signatures/verify",
    response_model=ImageVerificationPublic,
    responses={**REGISTRY_PROBLEMS, **problem_responses(403)},
)
def verify(body: ImageVerifyBody, hm: CoreDep, principal: CurrentPrincipal) -> ImageVerificationPublic:
    """Every signature of an image with its verdict, and whether the signer policy is met."""
    return verify_image(
        hm,
        principal,
        body.image,
        environment=body.environment,
        vault_keys=tuple(body.signing_keys),
        annotations=body.annotations,
        required=SignersRequired.ALL if body.require_all else SignersRequired.ANY,
        use_cache=body.use_cache,
    )


@router.post("/signatures/sign-blob", response_model=BlobSignaturePublic, status_code=201)
def sign_detached(body: BlobSignBody, hm: CoreDep, principal: Signer) -> BlobSignaturePublic:
    """A detached signature (cosign sign-blob) over the given bytes, with a vault key."""
    return sign_blob(hm, principal, _blob(body.data_base64), key=VaultKey(body.signing_key), what=body.name)


@router.post("/signatures/verify-blob", response_model=SignatureCheckPublic)
def verify_detached(body: BlobVerifyBody, hm: CoreDep, principal: Reader) -> SignatureCheckPublic:
    """Whether a detached signature over the given bytes verifies with one of the vault keys named."""
    del principal  # any role may check a signature with public keys
    return verify_blob(
        _blob(body.data_base64), body.signature, keys=[], what="blob", hm=hm, vault_keys=body.signing_keys
    )


@router.get("/signing-keys", response_model=list[SigningKeyPublic])
def keys(hm: CoreDep, principal: Reader) -> list[SigningKeyPublic]:
    """Every vault signing key's public half: name, algorithm, fingerprint, PEM public key."""
    return list_signing_keys(hm, principal)


@router.get("/signing-keys/{name}", response_model=SigningKeyPublic)
def key(name: KeyName, hm: CoreDep, principal: Reader) -> SigningKeyPublic:
    """One vault signing key's public half."""
    return signing_key(hm, principal, name)


@router.post("/signing-keys", response_model=SigningKeyPublic, status_code=201)
def generate(body: SigningKeyCreate, hm: CoreDep, principal: Signer) -> SigningKeyPublic:
    """Generate a key pair in the vault; its private half never leaves it."""
    return generate_signing_key(hm, principal, body.name, algorithm=KeyAlgorithm(body.algorithm))
