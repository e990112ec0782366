"""Small shared pieces for on-disk sources: bounded JSON reads, digests, platforms."""

from __future__ import annotations

import json
from typing import Any

from harbourmaster.domain.digest import Digest, DigestError
from harbourmaster.domain.platform import Platform, PlatformError
from harbourmaster.domain.platform import parse_platform as _parse_platform
from harbourmaster.supply.sbom.interface import SourceError

MAX_JSON_BYTES = 4 * 1024 * 1024


def check_digest(value: object, *, where: str) -> Digest:
    """A :class:`Digest` (a registered algorithm and its hex, so also safe as a path component);
    :class:`SourceError` otherwise."""
    if not isinstance(value, str):
        raise SourceError(f"{where}: {value!r} is not a valid digest")
    try:
        return Digest(value)
    except DigestError as exc:
        raise SourceError(f"{where}: {value!r} is not a valid digest ({exc.message})") from None


def verify_digest(data: bytes, digest: str, *, where: str) -> None:
    """Check ``data`` against ``digest`` (sha256 or sha512, whichever it names); :class:`SourceError`
    when they differ or ``digest`` is not one."""
    if not check_digest(digest, where=where).matches(data):
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
    """``linux/amd64`` or ``linux/arm64/v8`` → :class:`Platform` (the domain's
    :func:`~harbourmaster.domain.platform.parse_platform`); :class:`SourceError` otherwise."""
    try:
        return _parse_platform(text)
    except PlatformError as exc:
        raise SourceError(exc.message) from None


def platform_of(config: dict[str, Any]) -> Platform:
    """The platform recorded in an image config (``os``, ``architecture``, ``variant``, ``os.version``,
    ``os.features``); a missing ``os`` or ``architecture`` is left empty.

    Raises:
        SourceError: a platform field has characters no platform may have.
    """
    features = config.get("os.features")
    try:
        return Platform(os=str(config.get("os") or ""), architecture=str(config.get("architecture") or ""),
                        variant=str(config.get("variant") or ""),
                        os_version=str(config.get("os.version") or ""),
                        os_features=tuple(str(f) for f in features) if isinstance(features, list) else ())
    except PlatformError as exc:
        raise SourceError(f"image config: {exc.message}") from None
