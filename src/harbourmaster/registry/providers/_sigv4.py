"""AWS Signature Version 4, written from the AWS specification.

Used when botocore (the ``harbourmaster[aws]`` extra) is absent; tests check
it against AWS's published test vector and, when botocore is installed,
differentially against botocore's signer.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote, unquote, urlsplit

__all__ = ["sign_v4"]


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _canonical_query(query: str) -> str:
    pairs = []
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def sign_v4(
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    access_key_id: str,
    secret_access_key: str,
    region: str,
    service: str,
    amz_date: str,
    session_token: str | None = None,
) -> dict[str, str]:
    """Return ``headers`` plus ``X-Amz-Date``, ``Authorization`` (and the session token).

    ``amz_date`` is ``YYYYMMDDTHHMMSSZ``.  Every given header is signed.
    """
    parts = urlsplit(url)
    out = dict(headers)
    out["X-Amz-Date"] = amz_date
    if session_token:
        out["X-Amz-Security-Token"] = session_token
    if not any(k.lower() == "host" for k in out):
        out["Host"] = parts.netloc
    canonical = {k.lower().strip(): " ".join(v.strip().split()) for k, v in out.items()}
    signed = ";".join(sorted(canonical))
    canonical_headers = "".join(f"{k}:{canonical[k]}\n" for k in sorted(canonical))
    path = quote(parts.path or "/", safe="/-_.~")
    request = "\n".join(
        [
            method.upper(),
            path,
            _canonical_query(parts.query),
            canonical_headers,
            signed,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{secret_access_key}".encode(), date), region), service), "aws4_request"
    )
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    return out
