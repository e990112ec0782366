"""Request bodies of the signing routes (responses are the services' models)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BlobSignBody", "BlobVerifyBody", "ImageSignBody", "ImageVerifyBody", "SigningKeyCreate"]

_NAME = r"^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageSignBody(_Body):
    image: str = Field(min_length=1, max_length=1024)
    signing_key: str = Field(pattern=_NAME, description="A signing key kept in the vault.")
    format: Literal["tag", "bundle"] = "tag"
    annotations: dict[str, str] = Field(default_factory=dict, max_length=64)


class ImageVerifyBody(_Body):
    image: str = Field(min_length=1, max_length=1024)
    environment: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Verify against this environment's tier policy.",
    )
    signing_keys: list[str] = Field(
        default_factory=list, max_length=32, description="Vault signing keys whose public halves to trust."
    )
    annotations: dict[str, str] = Field(default_factory=dict, max_length=64)
    require_all: bool = False
    use_cache: bool = True


class BlobSignBody(_Body):
    data_base64: str = Field(max_length=700_000, description="The blob, base64 (at most 512 KiB decoded).")
    signing_key: str = Field(pattern=_NAME)
    name: str = Field(
        default="blob", min_length=1, max_length=256, description="What the blob is, for the audit log."
    )


class BlobVerifyBody(_Body):
    data_base64: str = Field(max_length=700_000)
    signature: str = Field(min_length=1, max_length=4096)
    signing_keys: list[str] = Field(min_length=1, max_length=32)


class SigningKeyCreate(_Body):
    name: str = Field(pattern=_NAME)
    algorithm: Literal[
        "ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048", "rsa-3072", "rsa-4096", "ed25519"
    ] = "ecdsa-p256"
