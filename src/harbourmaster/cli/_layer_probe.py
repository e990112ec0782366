"""Asking a running enforcement point (the admission webhook, the pull gate) which rules it enforces.

Both answer ``GET {url}/policy/{environment}`` with ``{"environment", "tier", "fingerprint"}``.  Any
failure (connection, TLS, status, body) is an answer too: ``policy diff`` lists it as a mismatch, since
a layer that cannot say what it enforces is not known to enforce the model.
"""

from __future__ import annotations

import ssl
import urllib.parse
from pathlib import Path

import httpx

from harbourmaster.errors import BadInput
from harbourmaster.services.policy_export import LayerAnswer

__all__ = ["ask_layer"]

_TIMEOUT_SECONDS = 5.0


def ask_layer(layer: str, url: str, environment: str, ca_bundle: Path | None) -> LayerAnswer:
    """What ``layer`` at ``url`` reports for ``environment``.

    Raises:
        BadInput: ``url`` is not http(s) with a host, or the CA bundle cannot be read.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput(f"--{layer} {url!r}: give the base URL, https://HOST[:PORT]")
    target = f"{url.rstrip('/')}/policy/{urllib.parse.quote(environment, safe='')}"
    verify: ssl.SSLContext | bool = True
    if ca_bundle is not None:
        try:
            verify = ssl.create_default_context(cafile=str(ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            raise BadInput(f"--ca-bundle {ca_bundle}: {exc}") from None
    try:
        response = httpx.get(target, timeout=_TIMEOUT_SECONDS, verify=verify, follow_redirects=False)
    except httpx.HTTPError as exc:
        return LayerAnswer(layer, target, error=f"{type(exc).__name__}: {exc}")
    if response.status_code != 200:
        return LayerAnswer(layer, target, error=f"HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        return LayerAnswer(layer, target, error="the answer is not JSON")
    if not isinstance(body, dict):
        return LayerAnswer(layer, target, error="the answer is not a JSON object")
    return LayerAnswer(layer, target, body=body)
