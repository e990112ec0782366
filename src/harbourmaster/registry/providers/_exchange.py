"""Shared plumbing for providers that exchange a credential at an identity endpoint."""

from __future__ import annotations

import base64
import json
import ssl
from typing import Any

import httpx

from harbourmaster.registry.errors import TokenExchangeFailed, translate_transport_error

__all__ = ["jwt_expiry", "post_for_json"]


async def post_for_json(
    http: httpx.AsyncClient,
    url: str,
    *,
    registry: str,
    what: str,
    data: dict[str, str] | None = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST and return the JSON object answered with 200.

    Raises:
        TokenExchangeFailed: a non-200 answer (its OAuth ``error`` code is quoted, never the body),
            or an answer that is not a JSON object.
        RegistryError: a transport failure, translated.
    """
    try:
        response = await http.post(url, data=data, content=content, headers=headers, follow_redirects=False)
    except (httpx.TransportError, ssl.SSLError) as exc:
        raise translate_transport_error(exc, registry=registry) from None
    try:
        doc = json.loads(response.content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        doc = None
    if response.status_code != 200:
        code = ""
        if isinstance(doc, dict):
            raw = doc.get("error") or doc.get("__type") or doc.get("code") or ""
            code = f" ({str(raw)[:80]})" if isinstance(raw, str | int) and raw else ""
        raise TokenExchangeFailed(
            f"{what} answered {response.status_code}{code}", registry=registry, details=[f"endpoint: {url}"]
        )
    if not isinstance(doc, dict):
        raise TokenExchangeFailed(
            f"{what} did not answer with a JSON object", registry=registry, details=[f"endpoint: {url}"]
        )
    return doc


def jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT, read without verifying it (for cache lifetime only)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, json.JSONDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
