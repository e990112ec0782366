"""Web UI sign-in with OpenID Connect: the authorization code flow with PKCE (RFC 7636), via Authlib.

:func:`start_sign_in` reads the issuer's discovery document and answers the authorization URL and the
:class:`PendingSignIn` (state, nonce and PKCE verifier) that the browser keeps, signed, until the issuer
sends it back.  :func:`finish_sign_in` checks the state, exchanges the code with the verifier, validates
the ID token (signature against the issuer's JWKS, ``iss``, ``aud``, ``exp``, ``nonce``) and maps its
username claim to a user of the governance model, whose role the session takes; the sign-in is audited
as ``web.sign-in`` (``method: oidc``), and so is a refusal once the issuer has answered.

A session opened this way stands on the user, not a token:
:func:`~harbourmaster.services.web_sessions.session_principal` checks on every request that the user is
still in the model, and answers its role as it is now.

The client secret, the authorization code and the tokens appear in no error, log line or audit record.
Issuer URLs must be ``https`` (TLS verified), except on a loopback host.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import Error, Forbidden, NotFound, Unauthenticated
from harbourmaster.identity.interface import IdentityHttp, ProviderUnreachable
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.web_sessions import role_of
from harbourmaster.settings import Settings

__all__ = [
    "OidcClient",
    "OidcNotConfigured",
    "OidcProviderError",
    "OidcRefused",
    "OidcUnknownUser",
    "PendingSignIn",
    "finish_sign_in",
    "oidc_client",
    "start_sign_in",
]

log = logging.getLogger(__name__)

_MAX_DOCUMENT_BYTES: Final = 1 << 20
#: Signature algorithms accepted for ID tokens: asymmetric only (never "none" or an HMAC keyed by the
#: client secret), narrowed to what the discovery document announces.
_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                      "EdDSA")
_CLOCK_SKEW_SECONDS: Final = 60
_SCOPE: Final = "openid profile email"


class OidcNotConfigured(NotFound):
    """No issuer is configured (HARBOURMASTER_OIDC_ISSUER): sign in with an API token."""


class OidcProviderError(Error):
    """The OpenID provider could not be reached, or answered something that is not OpenID Connect."""

    status = 502
    kind = "oidc-provider"


class OidcRefused(Unauthenticated):
    """The sign-in is refused: a state that is not this browser's, an ID token that does not validate."""


class OidcUnknownUser(Forbidden):
    """The issuer vouched for a user the governance model does not define."""


@dataclass(frozen=True, slots=True)
class OidcClient:
    """harbourmaster as a client of one OpenID provider."""

    issuer: str
    client_id: str
    client_secret: Secret | None
    username_claim: str
    #: The core's identity adapter (HTTP to the provider).
    http: IdentityHttp = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """What the browser keeps (signed) between leaving for the issuer and coming back."""

    state: str
    nonce: str
    verifier: str
    next: str


@dataclass(frozen=True, slots=True)
class _Provider:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    auth_methods: tuple[str, ...]
    algorithms: tuple[str, ...]


def oidc_client(settings: Settings, http: IdentityHttp | None) -> OidcClient | None:
    """The OpenID client the settings describe; None when no issuer is set.

    Raises:
        OidcProviderError: an issuer without a client id, or an issuer URL that is not https.
    """
    if not settings.oidc_issuer:
        return None
    if http is None:
        raise OidcProviderError("this server was built without an identity adapter: OIDC sign-in is off")
    issuer = settings.oidc_issuer.rstrip("/")
    if not settings.oidc_client_id:
        raise OidcProviderError("HARBOURMASTER_OIDC_ISSUER is set but HARBOURMASTER_OIDC_CLIENT_ID is not")
    _check_url(issuer, what="HARBOURMASTER_OIDC_ISSUER")
    secret = settings.oidc_client_secret
    return OidcClient(
        issuer=issuer,
        client_id=settings.oidc_client_id,
        client_secret=Secret(secret.get_secret_value()) if secret is not None else None,
        username_claim=settings.oidc_username_claim,
        http=http,
    )


def start_sign_in(client: OidcClient, *, redirect_uri: str, next_page: str) -> tuple[str, PendingSignIn]:
    """The issuer's authorization URL to send the browser to, and what the browser keeps meanwhile.

    Raises:
        OidcProviderError: the discovery document cannot be read or is not usable.
    """
    provider = _discover(client)
    pending = PendingSignIn(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                            verifier=secrets.token_urlsafe(48), next=next_page)
    query = urlencode({
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scope": _SCOPE,
        "state": pending.state,
        "nonce": pending.nonce,
        "code_challenge": create_s256_code_challenge(pending.verifier),
        "code_challenge_method": "S256",
    })
    separator = "&" if urlsplit(provider.authorization_endpoint).query else "?"
    return f"{provider.authorization_endpoint}{separator}{query}", pending


def finish_sign_in(
    hm: Harbourmaster, client: OidcClient, *, pending: PendingSignIn | None, state: str, code: str,
    redirect_uri: str,
) -> Principal:
    """The principal of the model's user the issuer vouches for; audited as ``web.sign-in``.

    Raises:
        OidcRefused: no sign-in was started in this browser, the state is not its own, or the ID token
            does not validate (signature, issuer, audience, expiry, nonce); audited once the issuer answered.
        OidcUnknownUser: the username claim names no user of the model (audited as refused).
        OidcProviderError: the issuer cannot be reached or refuses the code.
    """
    if pending is None:
        raise OidcRefused("no sign-in was started in this browser, or it took longer than 10 minutes: "
                          "start again from the sign-in page")
    if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise OidcRefused("the sign-in answer does not belong to the sign-in started in this browser "
                          "(its state differs): start again from the sign-in page")
    if not code:
        raise OidcRefused("the issuer sent no authorization code: start again from the sign-in page")
    provider = _discover(client)
    id_token = _exchange(client, provider, code=code, verifier=pending.verifier, redirect_uri=redirect_uri)
    try:
        claims = _validate(hm, client, provider, id_token, nonce=pending.nonce)
    except OidcRefused as exc:
        _audit(hm, client, actor="anonymous", target="user unknown", result="refused",
               extra={"reason": exc.message})
        raise
    name = claims.get(client.username_claim)
    subject = str(claims.get("sub", ""))
    if not isinstance(name, str) or not name:
        message = f"the ID token has no {client.username_claim} claim to name a user by"
        _audit(hm, client, actor="anonymous", target="user unknown", result="refused",
               extra={"reason": message, "subject": subject})
        raise OidcRefused(message)
    role = role_of(hm, name)
    if role is None:
        message = (f"{client.issuer} signed you in as {name}, but no user {name} is defined in the "
                   "governance model: ask an administrator to add it")
        _audit(hm, client, actor=name, target=f"user {name}", result="refused",
               extra={"reason": "no such user", "subject": subject})
        raise OidcUnknownUser(message)
    _audit(hm, client, actor=name, target=f"user {name}", result="ok", extra={"subject": subject})
    return Principal(name, role)


def _audit(hm: Harbourmaster, client: OidcClient, *, actor: str, target: str, result: str,
           extra: dict[str, object]) -> None:
    details: dict[str, object] = {"method": "oidc", "issuer": client.issuer, **extra}
    with hm.store.transaction() as tx:
        tx.audit.append(actor=actor, action="web.sign-in", target=target, result=result, details=details)


def _check_url(url: str, *, what: str) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and _loopback(host):
        return
    raise OidcProviderError(f"{what} must be an https URL (http only on a loopback host), not {url!r}")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _fetch_json(client: OidcClient, method: str, url: str, *, what: str, **kwargs: Any) -> tuple[int, Any]:
    """``(status, JSON body)`` of a request to the provider, through the core's identity adapter."""
    try:
        status, body = client.http.exchange(method, url, max_bytes=_MAX_DOCUMENT_BYTES, **kwargs)
    except ProviderUnreachable as exc:
        raise OidcProviderError(
            f"the OpenID provider {client.issuer} could not be reached for its {what} "
            f"({exc.message}): try again later, or ask an administrator to check "
            "HARBOURMASTER_OIDC_ISSUER") from None
    try:
        return status, json.loads(body)
    except ValueError:
        raise OidcProviderError(
            f"the OpenID provider {client.issuer} answered its {what} with HTTP {status} "
            "and no JSON") from None


def _discover(client: OidcClient) -> _Provider:
    url = f"{client.issuer}/.well-known/openid-configuration"
    status, doc = _fetch_json(client, "GET", url, what="discovery document")
    if status != 200 or not isinstance(doc, dict):
        raise OidcProviderError(f"the OpenID provider {client.issuer} answered its discovery document "
                                f"with HTTP {status}")
    if str(doc.get("issuer", "")).rstrip("/") != client.issuer:
        raise OidcProviderError(f"the discovery document at {url} names another issuer "
                                f"({doc.get('issuer')!r}): check HARBOURMASTER_OIDC_ISSUER")
    endpoints = {}
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = doc.get(key)
        if not isinstance(value, str) or not value:
            raise OidcProviderError(f"the discovery document at {url} has no {key}")
        _check_url(value, what=f"the discovery document's {key}")
        endpoints[key] = value
    methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    announced = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(a for a in _ALGORITHMS if a in announced)
    if not algorithms:
        raise OidcProviderError(f"the OpenID provider {client.issuer} signs ID tokens with none of "
                                f"{', '.join(_ALGORITHMS)}")
    return _Provider(**endpoints, auth_methods=tuple(str(m) for m in methods), algorithms=algorithms)


def _exchange(client: OidcClient, provider: _Provider, *, code: str, verifier: str, redirect_uri: str) -> str:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "code_verifier": verifier, "client_id": client.client_id}
    auth: tuple[str, str] | None = None
    if client.client_secret is not None:
        methods = provider.auth_methods
        if "client_secret_basic" in methods or "client_secret_post" not in methods:
            auth = (client.client_id, client.client_secret.reveal())
        else:
            form["client_secret"] = client.client_secret.reveal()
    status, body = _fetch_json(client, "POST", provider.token_endpoint, what="token endpoint",
                               data=form, auth=auth)
    if status != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        # Only the error code, which RFC 6749 restricts to a few words: never the description, which
        # an issuer may fill with what it was sent.
        said = f" ({error})" if isinstance(error, str) and error.replace("_", "").isalpha() else ""
        # A 400/401 is the issuer saying no to this code (used, expired, or a PKCE verifier that is not
        # the one the sign-in started with); anything else is the issuer failing.
        refusal = OidcRefused if status in (400, 401) else OidcProviderError
        raise refusal(f"the OpenID provider {client.issuer} refused the authorization code "
                      f"with HTTP {status}{said}: start again from the sign-in page")
    id_token = body.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise OidcProviderError(f"the OpenID provider {client.issuer} answered no ID token")
    return id_token


def _validate(hm: Harbourmaster, client: OidcClient, provider: _Provider, id_token: str, *,
              nonce: str) -> dict[str, Any]:
    status, jwks = _fetch_json(client, "GET", provider.jwks_uri, what="signing keys (JWKS)")
    try:
        if status != 200 or not isinstance(jwks, dict):
            raise OidcProviderError(f"the OpenID provider {client.issuer} answered its JWKS "
                                    f"with HTTP {status}")
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError, KeyError) as exc:
        raise OidcProviderError(f"the OpenID provider {client.issuer}'s signing keys (JWKS) cannot be read") \
            from exc
    try:
        token = jwt.decode(id_token, keys, algorithms=list(provider.algorithms))
    except JoseError as exc:
        raise OidcRefused(f"the ID token from {client.issuer} is refused: its signature does not verify "
                          f"against the issuer's keys ({exc.error})") from None
    except (ValueError, TypeError) as exc:
        raise OidcRefused(f"the ID token from {client.issuer} is refused: it cannot be read") from exc
    claims: dict[str, Any] = dict(token.claims)
    now = int(hm.clock.now().timestamp())
    registry = jwt.JWTClaimsRegistry(
        now=now, leeway=_CLOCK_SKEW_SECONDS,
        iss={"essential": True, "value": client.issuer},
        aud={"essential": True, "value": client.client_id},
        exp={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        reason = "it has expired" if exc.error == "expired_token" else \
            f"its {getattr(exc, 'claim', 'claims')} claim is not what this sign-in expects"
        if exc.error == "missing_claim":
            reason = f"it lacks a required claim ({exc.description})"
        raise OidcRefused(f"the ID token from {client.issuer} is refused: {reason}") from None
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client.client_id:
        raise OidcRefused(f"the ID token from {client.issuer} is refused: it names several audiences and "
                          "its azp claim is not this client")
    return claims
