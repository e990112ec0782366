"""A service-account issuer as the API server is one: keys, their JWKS, and bound tokens.

Tokens are signed here with ``cryptography`` directly (not with the JWT library the verifier uses), so
a mistake shared by signer and verifier cannot hide. The claims are laid out as the API server writes
them (``pkg/serviceaccount/claims.go`` in kubernetes/kubernetes: ``sub``, ``aud``, ``iat``, ``nbf``,
``exp``, ``jti`` and the private ``kubernetes.io`` claim with ``namespace``, ``serviceaccount``,
``pod``, ``node`` and ``warnafter``), and the ``kid`` is the API server's: the unpadded base64url of
the SHA-256 of the public key's DER SubjectPublicKeyInfo (``keyIDFromPublicKey``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ISSUER = "https://kubernetes.default.svc.cluster.local"
NOW = 1_790_000_000  # a fixed "now" (2026-09-21), as the tests pass it in


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(value: int, length: int | None = None) -> bytes:
    length = length or (value.bit_length() + 7) // 8
    return value.to_bytes(length, "big")


_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_CURVES = {
    "ES256": (ec.SECP256R1, "P-256", 32),
    "ES384": (ec.SECP384R1, "P-384", 48),
    "ES512": (ec.SECP521R1, "P-521", 66),
}


@dataclass
class SigningKey:
    alg: str
    private: Any

    @classmethod
    def rsa(cls, alg: str = "RS256", bits: int = 2048) -> SigningKey:
        return cls(alg, rsa.generate_private_key(public_exponent=65537, key_size=bits))

    @classmethod
    def ec(cls, alg: str = "ES256") -> SigningKey:
        return cls(alg, ec.generate_private_key(_CURVES[alg][0]()))

    @property
    def kid(self) -> str:
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return b64url(hashlib.sha256(der).digest())

    def jwk(self, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            jwk = {"kty": "RSA", "n": b64url(_uint(numbers.n)), "e": b64url(_uint(numbers.e))}
        else:
            numbers = public.public_numbers()
            _, crv, size = _CURVES[self.alg]
            jwk = {
                "kty": "EC",
                "crv": crv,
                "x": b64url(_uint(numbers.x, size)),
                "y": b64url(_uint(numbers.y, size)),
            }
        # As the API server's /openid/v1/jwks publishes them.
        jwk.update({"use": "sig", "alg": self.alg, "kid": self.kid})
        jwk.update(extra)
        return jwk

    def sign(self, signing_input: bytes) -> bytes:
        digest = _HASHES[self.alg[2:]]()
        if self.alg.startswith("RS"):
            signature: bytes = self.private.sign(signing_input, padding.PKCS1v15(), digest)
            return signature
        r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(digest)))
        size = _CURVES[self.alg][2]
        return _uint(r, size) + _uint(s, size)


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.jwk() for key in keys]}


def bound_claims(
    *,
    namespace: str = "payments",
    service_account: str = "api",
    pod: str = "api-7d9c6b5f4-x2x8k",
    audience: list[str] | str | None = None,
    issuer: str = ISSUER,
    iat: int = NOW - 30,
    lifetime: int = 3600,
) -> dict[str, Any]:
    """The claims of a token the kubelet requests for a pod (TokenRequest bound to the pod)."""
    return {
        "aud": ["harbourmaster"] if audience is None else audience,
        "exp": iat + lifetime,
        "iat": iat,
        "iss": issuer,
        "jti": "2c9f0a8e-4b7e-4d7e-9b0e-0f6d3b1b8e11",
        "kubernetes.io": {
            "namespace": namespace,
            "node": {"name": "worker-3", "uid": "58456cb0-dd00-45ed-b797-5578fdceaced"},
            "pod": {"name": pod, "uid": "778a530c-b3f4-47c0-9cd5-ab018fb64f33"},
            "serviceaccount": {"name": service_account, "uid": "a087d5a0-e1dd-43ec-93ac-f13d89cd13af"},
            "warnafter": iat + 3600,
        },
        "nbf": iat,
        "sub": f"system:serviceaccount:{namespace}:{service_account}",
    }


def issue(
    key: SigningKey, claims: dict[str, Any], *, header: dict[str, Any] | None = None, kid: bool = True
) -> str:
    head = {"alg": key.alg, "kid": key.kid} if kid else {"alg": key.alg}
    head.update(header or {})
    signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}".encode()
    return f"{signing_input.decode()}.{b64url(key.sign(signing_input))}"


def unsigned(claims: dict[str, Any], *, alg: str = "none", kid: str | None = None) -> str:
    head: dict[str, Any] = {"alg": alg}
    if kid:
        head["kid"] = kid
    return f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}."


def hmac_signed(claims: dict[str, Any], secret: bytes, *, kid: str) -> str:
    """The algorithm-confusion attack: HS256 keyed with the issuer's public key."""
    head = {"alg": "HS256", "kid": kid}
    signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(claims).encode())}".encode()
    return f"{signing_input.decode()}.{b64url(hmac.new(secret, signing_input, hashlib.sha256).digest())}"
