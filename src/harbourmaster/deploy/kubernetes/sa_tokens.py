"""Offline verification of a pod's bound Kubernetes service-account token.

With KEP-4412 the kubelet hands the credential provider a service-account token bound to the pod
whose image is pulled, with the audience the provider asked for (``harbourmaster``). The token is a
JWT signed by the cluster's service-account issuer; its keys are the issuer's JWKS
(``/openid/v1/jwks`` on the API server), given per environment. Nothing is asked of the API server:
the signature, issuer, audience, lifetime and the ``kubernetes.io`` claims are checked here.

The claim layout is the API server's (``pkg/serviceaccount/claims.go``)::

    {"aud": ["harbourmaster"], "exp": ..., "iat": ..., "nbf": ..., "iss": "https://kubernetes.default.svc",
     "jti": "...", "sub": "system:serviceaccount:NS:NAME",
     "kubernetes.io": {"namespace": NS, "node": {"name", "uid"}, "pod": {"name", "uid"},
                       "serviceaccount": {"name", "uid"}, "warnafter": ...}}

Only asymmetric algorithms the API server signs with are accepted (RS256/384/512, ES256/384/512, and
the key's type and curve must fit the algorithm); ``none`` and HS* are refused before any key is used.
Error messages name what failed and never contain the token.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import jwt
from jwt.exceptions import DecodeError, InvalidKeyError, InvalidSignatureError, PyJWKError, PyJWTError

from harbourmaster.errors import BadInput, Unauthenticated

__all__ = [
    "ACCEPTED_ALGORITHMS",
    "DEFAULT_AUDIENCE",
    "DEFAULT_LEEWAY",
    "AlgorithmRefusedError",
    "AudienceMismatchError",
    "BoundServiceAccountToken",
    "IssuerKeys",
    "IssuerMismatchError",
    "JwksError",
    "MalformedTokenError",
    "NotPodBoundError",
    "ServiceAccountTokenError",
    "SignatureError",
    "TokenExpiredError",
    "TokenNotYetValidError",
    "UnknownKeyError",
    "verify_service_account_token",
]

DEFAULT_AUDIENCE: Final = "harbourmaster"
#: Clock skew tolerated on ``exp``, ``nbf`` and ``iat`` (the API server's own validator uses one minute).
DEFAULT_LEEWAY: Final = dt.timedelta(seconds=60)
#: What the API server signs service-account tokens with: RS256 for an RSA key, ES256/384/512 by the
#: curve of an ECDSA key; RS384/RS512 for external signers (KEP-740).
ACCEPTED_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"})
_EC_CURVES: Final = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_MIN_RSA_BITS: Final = 2048
# A bound token is about 1 KiB; anything far larger is not one, and is not parsed.
_MAX_TOKEN_LENGTH: Final = 16 * 1024
_MAX_JWKS_BYTES: Final = 1024 * 1024
_SHOWN: Final = 80


class ServiceAccountTokenError(Unauthenticated):
    """A service-account token was refused; the subclass says which check failed."""

    kind = "invalid-service-account-token"


class MalformedTokenError(ServiceAccountTokenError):
    """Not a JWS compact serialisation with JSON header and claims."""


class AlgorithmRefusedError(ServiceAccountTokenError):
    """``none``, HS* or any algorithm the API server does not sign with, or one its key does not fit."""


class UnknownKeyError(ServiceAccountTokenError):
    """The token's ``kid`` is not in the issuer's JWKS (or it has none and the JWKS has several keys)."""


class SignatureError(ServiceAccountTokenError):
    """The signature does not verify with the issuer's key."""


class IssuerMismatchError(ServiceAccountTokenError):
    """``iss`` is not the environment's cluster issuer."""


class AudienceMismatchError(ServiceAccountTokenError):
    """``aud`` does not contain harbourmaster's audience."""


class TokenExpiredError(ServiceAccountTokenError):
    """``exp`` is past (beyond the leeway)."""


class TokenNotYetValidError(ServiceAccountTokenError):
    """``nbf`` or ``iat`` is in the future (beyond the leeway)."""


class NotPodBoundError(ServiceAccountTokenError):
    """The ``kubernetes.io`` claims lack the namespace, service account or pod (a legacy or
    secret-bound token), or ``sub`` does not name the same service account."""


class JwksError(BadInput):
    """The issuer keys given for an environment are not a usable JWKS."""

    kind = "invalid-jwks"


@dataclass(frozen=True, slots=True)
class BoundServiceAccountToken:
    """What a verified token says: the pod, its service account and namespace, and its lifetime."""

    issuer: str
    subject: str
    namespace: str
    service_account_name: str
    service_account_uid: str
    pod_name: str
    pod_uid: str
    node_name: str | None
    node_uid: str | None
    token_id: str | None
    issued_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class _IssuerKey:
    kid: str | None
    kty: str
    crv: str | None
    alg: str | None
    jwk: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class IssuerKeys:
    """The public keys of one cluster's service-account issuer, read once from its JWKS."""

    keys: tuple[_IssuerKey, ...]

    @classmethod
    def from_jwks(cls, document: bytes | str | Mapping[str, Any]) -> IssuerKeys:
        """Read a JWKS (``{"keys": [...]}``) as bytes, text or a parsed mapping.

        Keys meant for encryption (``use: enc``) and of types other than RSA and EC are left out.

        Raises:
            JwksError: not JSON, not ``{"keys": [...]}``, a key without ``kty``, two keys with one
                ``kid``, or no RSA or EC signing key at all.
        """
        if isinstance(document, bytes | str):
            if len(document) > _MAX_JWKS_BYTES:
                raise JwksError(f"the issuer's JWKS is larger than {_MAX_JWKS_BYTES} bytes")
            try:
                document = json.loads(document)
            except (ValueError, UnicodeDecodeError) as exc:
                raise JwksError(f"the issuer's JWKS is not JSON: {exc}") from exc
        if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
            raise JwksError('the issuer\'s JWKS is not an object with a "keys" list')
        keys: list[_IssuerKey] = []
        seen: set[str] = set()
        for index, jwk in enumerate(document["keys"]):
            if not isinstance(jwk, Mapping) or not isinstance(jwk.get("kty"), str):
                raise JwksError(f'keys[{index}] of the issuer\'s JWKS is not a JWK with a "kty"')
            if jwk.get("use", "sig") != "sig" or jwk["kty"] not in ("RSA", "EC"):
                continue
            kid = jwk.get("kid")
            if kid is not None and not isinstance(kid, str):
                raise JwksError(f'keys[{index}] of the issuer\'s JWKS has a "kid" that is not a string')
            if kid is not None:
                if kid in seen:
                    raise JwksError(f"the issuer's JWKS has two keys with kid {_show(kid)}")
                seen.add(kid)
            crv, alg = jwk.get("crv"), jwk.get("alg")
            keys.append(
                _IssuerKey(
                    kid=kid,
                    kty=jwk["kty"],
                    crv=crv if isinstance(crv, str) else None,
                    alg=alg if isinstance(alg, str) else None,
                    jwk=dict(jwk),
                )
            )
        if not keys:
            raise JwksError("the issuer's JWKS has no RSA or EC signing key")
        return cls(keys=tuple(keys))

    def _key_for(self, kid: str | None) -> _IssuerKey:
        if kid is None:
            if len(self.keys) == 1:
                return self.keys[0]
            raise UnknownKeyError(
                f"the service-account token names no key (no kid) and the issuer has {len(self.keys)} keys"
            )
        for key in self.keys:
            if key.kid == kid:
                return key
        raise UnknownKeyError(
            f"the service-account token is signed with key {_show(kid)}, which is not among the issuer's "
            "keys (rotated? refresh the environment's JWKS)"
        )


def verify_service_account_token(
    token: str,
    *,
    keys: IssuerKeys,
    issuer: str,
    now: dt.datetime,
    audience: str = DEFAULT_AUDIENCE,
    leeway: dt.timedelta = DEFAULT_LEEWAY,
) -> BoundServiceAccountToken:
    """Verify a pod-bound service-account token offline and return what it says.

    ``now`` must be timezone-aware.

    Raises:
        MalformedTokenError, AlgorithmRefusedError, UnknownKeyError, SignatureError,
        IssuerMismatchError, AudienceMismatchError, TokenExpiredError, TokenNotYetValidError,
        NotPodBoundError: (all :class:`ServiceAccountTokenError`) the check named failed.
        JwksError: the issuer's key for the token is not a usable public key.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        raise MalformedTokenError(
            f"the service-account token is empty or longer than {_MAX_TOKEN_LENGTH} characters"
        )
    if token.count(".") != 2:
        raise MalformedTokenError("the service-account token is not a JWT (header.claims.signature)")
    header = _header(token)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ACCEPTED_ALGORITHMS:
        raise AlgorithmRefusedError(
            f"the service-account token's algorithm {_show(alg)} is refused: only "
            f"{', '.join(sorted(ACCEPTED_ALGORITHMS))} (as the API server signs) are accepted"
        )
    if "crit" in header:
        raise MalformedTokenError("the service-account token has critical header parameters (crit)")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise MalformedTokenError("the service-account token's kid is not a string")
    key = keys._key_for(kid)
    public_key = _public_key(key, alg)
    try:
        claims = jwt.decode(
            token,
            key=public_key,
            algorithms=[alg],
            # Only the signature here: the claims are checked below against the given `now`, each
            # with its own error.
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "verify_sub": False,
                "verify_jti": False,
            },
        )
    except InvalidSignatureError as exc:
        raise SignatureError(
            f"the service-account token's signature does not verify with the issuer's key {_show(kid)}"
        ) from exc
    except DecodeError as exc:
        raise MalformedTokenError(
            "the service-account token's claims are not a base64url JSON object"
        ) from exc
    except PyJWTError as exc:
        raise MalformedTokenError(f"the service-account token was refused: {type(exc).__name__}") from exc
    return _claims(claims, issuer=issuer, audience=audience, now=now, leeway=leeway)


def _header(token: str) -> dict[str, Any]:
    encoded = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise MalformedTokenError("the service-account token's header is not base64url JSON") from exc
    if not isinstance(header, dict):
        raise MalformedTokenError("the service-account token's header is not a JSON object")
    return header


def _public_key(key: _IssuerKey, alg: str) -> Any:
    family = "RSA" if alg.startswith("RS") else "EC"
    if key.kty != family or (family == "EC" and key.crv != _EC_CURVES[alg]):
        raise AlgorithmRefusedError(
            f"the service-account token's algorithm {alg} does not fit the issuer's key {_show(key.kid)} "
            f"({key.kty}{' ' + key.crv if key.crv else ''})"
        )
    if key.alg is not None and key.alg != alg:
        raise AlgorithmRefusedError(
            f"the service-account token's algorithm {alg} is not the algorithm {_show(key.alg)} "
            f"of the issuer's key {_show(key.kid)}"
        )
    try:
        public_key = jwt.PyJWK(dict(key.jwk), algorithm=alg).key
    except (PyJWKError, InvalidKeyError, ValueError, TypeError) as exc:
        raise JwksError(f"the issuer's key {_show(key.kid)} is not a valid {key.kty} public key") from exc
    if family == "RSA" and getattr(public_key, "key_size", 0) < _MIN_RSA_BITS:
        raise JwksError(f"the issuer's RSA key {_show(key.kid)} is shorter than {_MIN_RSA_BITS} bits")
    return public_key


def _claims(
    claims: Mapping[str, Any], *, issuer: str, audience: str, now: dt.datetime, leeway: dt.timedelta
) -> BoundServiceAccountToken:
    iss = claims.get("iss")
    if iss != issuer:
        raise IssuerMismatchError(
            f"the service-account token's issuer {_show(iss)} is not the cluster's issuer {_show(issuer)}"
        )
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or audience not in audiences:
        raise AudienceMismatchError(
            f"the service-account token's audience {_show(aud)} does not contain {audience!r} "
            "(set tokenAttributes.serviceAccountTokenAudience in the kubelet's credential provider config)"
        )
    now_s = now.timestamp()
    slack = leeway.total_seconds()
    exp = _numeric_date(claims, "exp", required=True)
    nbf = _numeric_date(claims, "nbf", required=False)
    iat = _numeric_date(claims, "iat", required=True)
    assert exp is not None and iat is not None
    if now_s > exp + slack:
        raise TokenExpiredError(f"the service-account token expired at {_iso(exp)}")
    if nbf is not None and now_s + slack < nbf:
        raise TokenNotYetValidError(f"the service-account token is not valid before {_iso(nbf)} (nbf)")
    if now_s + slack < iat:
        raise TokenNotYetValidError(
            f"the service-account token is issued in the future, at {_iso(iat)} (iat)"
        )

    k8s = claims.get("kubernetes.io")
    if not isinstance(k8s, Mapping):
        raise NotPodBoundError('the service-account token has no "kubernetes.io" claims')
    namespace = _text(k8s, "namespace", "kubernetes.io.namespace")
    sa_name, sa_uid = _ref(k8s, "serviceaccount")
    if not isinstance(k8s.get("pod"), Mapping):
        raise NotPodBoundError(
            "the service-account token is not bound to a pod (no kubernetes.io.pod): the kubelet's "
            "credential provider tokens are"
        )
    pod_name, pod_uid = _ref(k8s, "pod")
    node_name = node_uid = None
    if isinstance(k8s.get("node"), Mapping):
        node_name, node_uid = _ref(k8s, "node")
    expected_sub = f"system:serviceaccount:{namespace}:{sa_name}"
    if claims.get("sub") != expected_sub:
        raise NotPodBoundError(
            f"the service-account token's subject {_show(claims.get('sub'))} is not {expected_sub!r}"
        )
    jti = claims.get("jti")
    return BoundServiceAccountToken(
        issuer=issuer,
        subject=expected_sub,
        namespace=namespace,
        service_account_name=sa_name,
        service_account_uid=sa_uid,
        pod_name=pod_name,
        pod_uid=pod_uid,
        node_name=node_name,
        node_uid=node_uid,
        token_id=jti if isinstance(jti, str) else None,
        issued_at=dt.datetime.fromtimestamp(iat, dt.UTC),
        expires_at=dt.datetime.fromtimestamp(exp, dt.UTC),
    )


def _numeric_date(claims: Mapping[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MalformedTokenError(f"the service-account token's {name} claim is missing or not a NumericDate")
    return float(value)


def _ref(k8s: Mapping[str, Any], name: str) -> tuple[str, str]:
    ref = k8s.get(name)
    if not isinstance(ref, Mapping):
        raise NotPodBoundError(f"the service-account token has no kubernetes.io.{name} claim")
    return _text(ref, "name", f"kubernetes.io.{name}.name"), _text(ref, "uid", f"kubernetes.io.{name}.uid")


def _text(mapping: Mapping[str, Any], key: str, path: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise NotPodBoundError(f"the service-account token's {path} claim is missing or empty")
    return value


def _iso(timestamp: float) -> str:
    try:
        return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return str(timestamp)


def _show(value: object) -> str:
    """A claim or header value for a message: quoted, and cut short (a claim is chosen by the sender)."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
