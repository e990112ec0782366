"""cosign's simple-signing payload: what a classic (``.sig`` tag) signature signs.

::

    {"critical":{"identity":{"docker-reference":"registry.example/team/app"},
                 "image":{"docker-manifest-digest":"sha256:<hex>"},
                 "type":"cosign container image signature"},
     "optional":{"key":"value"}}          # or null

The signature is over the payload's exact bytes, so the verifier parses the
bytes it verified and nothing else.  Verifying checks the type, that the
digest named is the image's, and annotation constraints against ``optional``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from harbourmaster.domain.digest import parse_digest
from harbourmaster.signing.interface import SignatureFormatError, VerificationFailed

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "SIGNATURE_TYPE",
    "SimpleSigningPayload",
    "build_payload",
    "parse_payload",
]

SIGNATURE_TYPE = "cosign container image signature"
#: cosign's payloads are a few hundred bytes; annotations add a little. 1 MiB bounds a hostile one.
MAX_PAYLOAD_BYTES = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class SimpleSigningPayload:
    """The parts of a payload a verifier uses."""

    docker_reference: str
    image_digest: str
    annotations: dict[str, str] = field(default_factory=dict)

    def check(self, *, image_digest: str, annotations: Mapping[str, str], source: str) -> None:
        """That this payload names ``image_digest`` and carries every ``annotations`` pair.

        Raises:
            VerificationFailed: another digest (a signature copied from another image), or an
                annotation missing or different.
        """
        if self.image_digest != image_digest:
            raise VerificationFailed(
                f"{source}: the signature is for {self.image_digest}, not for "
                f"{image_digest} (a signature copied from another image)"
            )
        for key, value in annotations.items():
            if key not in self.annotations:
                raise VerificationFailed(
                    f"{source}: the annotation {key!r} is required but the signature does not carry it"
                )
            if self.annotations[key] != value:
                raise VerificationFailed(
                    f"{source}: the annotation {key!r} is {self.annotations[key]!r}, not {value!r}"
                )


def build_payload(
    *, docker_reference: str, image_digest: str, annotations: Mapping[str, str] | None = None
) -> bytes:
    """The payload bytes cosign would sign for ``docker_reference`` (a repository, no tag) at
    ``image_digest``, with ``annotations`` as the optional section (``null`` without any)."""
    document = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": image_digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": dict(sorted(annotations.items())) if annotations else None,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _object(value: object, what: str, source: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise SignatureFormatError(f"{source}: the payload's {what} is missing or not an object")
    return value


def parse_payload(data: bytes, *, source: str) -> SimpleSigningPayload:
    """Read the payload bytes a signature verified.

    Raises:
        SignatureFormatError: too large, not JSON, or not a simple-signing payload of cosign's type.
    """
    if len(data) > MAX_PAYLOAD_BYTES:
        raise SignatureFormatError(
            f"{source}: a payload of {len(data)} bytes exceeds the {MAX_PAYLOAD_BYTES}-byte limit"
        )
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise SignatureFormatError(f"{source}: the payload is not JSON") from None
    critical = _object(_object(document, "document", source).get("critical"), "critical section", source)
    if critical.get("type") != SIGNATURE_TYPE:
        raise SignatureFormatError(
            f"{source}: the payload type is {critical.get('type')!r}, not {SIGNATURE_TYPE!r}"
        )
    digest = _object(critical.get("image"), "critical.image", source).get("docker-manifest-digest")
    reference = _object(critical.get("identity"), "critical.identity", source).get("docker-reference")
    if not isinstance(digest, str):
        raise SignatureFormatError(f"{source}: the payload names no docker-manifest-digest")
    try:
        parse_digest(digest)
    except ValueError as exc:
        raise SignatureFormatError(
            f"{source}: the payload's docker-manifest-digest is not a digest: {exc}"
        ) from None
    optional = document.get("optional")
    annotations: dict[str, str] = {}
    if isinstance(optional, dict):
        annotations = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in optional.items()}
    elif optional is not None:
        raise SignatureFormatError(f"{source}: the payload's optional section is not an object")
    return SimpleSigningPayload(
        docker_reference=reference if isinstance(reference, str) else "",
        image_digest=digest,
        annotations=annotations,
    )
