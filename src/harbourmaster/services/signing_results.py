"""What the signing services return: the API's ``response_model`` and the CLI's ``--json``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from harbourmaster.signing.verify import SignatureCheck

__all__ = [
    "BlobSignaturePublic",
    "ImageSignaturePublic",
    "ImageVerificationPublic",
    "SignatureCheckPublic",
    "SigningKeyPublic",
]


class SignatureCheckPublic(BaseModel):
    """The verdict on one signature found."""

    model_config = ConfigDict(from_attributes=True)

    form: str
    location: str
    verified: bool
    reason: str
    signer: str | None = None
    key_fingerprint: str | None = None
    docker_reference: str | None = None
    annotations: dict[str, str] = {}

    @classmethod
    def of(cls, check: SignatureCheck) -> SignatureCheckPublic:
        return cls.model_validate(check)


class BlobSignaturePublic(BaseModel):
    """A detached signature made over a file (cosign ``sign-blob``)."""

    signature: str
    key: str
    key_fingerprint: str
    blob_sha256: str


class ImageSignaturePublic(BaseModel):
    """A signature added to an image in its registry."""

    image: str
    image_digest: str
    format: str
    key: str
    key_fingerprint: str
    signature: str
    location: str
    annotations: dict[str, str]


class ImageVerificationPublic(BaseModel):
    """Every signature found on an image, with its verdict, and whether the signer policy is met."""

    image: str
    image_digest: str
    satisfied: bool
    reason: str
    required: list[str]
    mode: str
    verified_signers: list[str]
    signatures: list[SignatureCheckPublic]
    trust: str
    verified_at: str
    cached: bool = False


class SigningKeyPublic(BaseModel):
    """A signing key kept in the vault: its public half only."""

    name: str
    algorithm: str
    fingerprint: str
    public_key: str
    created_at: str
    created_by: str
