"""Small shared pieces for on-disk sources: bounded JSON reads, digests, platforms."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from harbourmaster.supply.sbom.interface import Platform, SourceError

MAX_JSON_BYTES = 4 * 1024 * 1024
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


def check_digest(value: object, *, where: str) -> str:
    """A digest string safe to use as a path component; :class:`SourceError` otherwise."""
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise SourceError(f"{where}: {value!r} is not a valid digest")
    return value


def verify_sha256(data: bytes, digest: str, *, where: str) -> None:
    algo, _, hexpart = digest.partition(":")
    if algo == "sha256" and hashlib.sha256(data).hexdigest() != hexpart:
        raise SourceError(f"{where}: content does not match its digest {digest}")


def parse_json(data: bytes, *, where: str) -> Any:
    if len(data) > MAX_JSON_BYTES:
        raise SourceError(f"{where}: JSON document larger than {MAX_JSON_BYTES} bytes")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SourceError(f"{where}: not valid JSON ({exc})") from exc


def json_object(value: object, *, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SourceError(f"{where}: expected a JSON object")
    return value


def parse_platform(text: str) -> Platform:
    """``linux/amd64`` or ``linux/arm64/v8`` → :class:`Platform`; :class:`SourceError` otherwise."""
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise SourceError(f"platform {text!r} is not of the form OS/ARCH[/VARIANT], e.g. linux/amd64")
    return Platform(os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else "")


def platform_of(config: dict[str, Any]) -> Platform:
    """The platform recorded in an image config (``os``, ``architecture``, ``variant``)."""
    return Platform(os=str(config.get("os", "")), architecture=str(config.get("architecture", "")),
                    variant=str(config.get("variant", "")))
