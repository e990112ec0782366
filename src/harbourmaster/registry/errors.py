"""The registry layer's errors, and the one place httpx exceptions are translated.

Every message names the registry (host) and, where there is one, the repository,
and says what went wrong in the field's words.  No message ever contains a
credential: the only strings put into them are hosts, repositories, digests,
status codes, header values that carry no secret (``WWW-Authenticate`` realms)
and the text of lower-level exceptions, which never see a credential because
credentials travel only in request headers.
"""

from __future__ import annotations

import ssl

import httpx

from harbourmaster.errors import Error

__all__ = [
    "AuthenticationFailed",
    "AuthorizationDenied",
    "BlobIntegrityError",
    "ConnectionRefused",
    "InsecureTransportRefused",
    "ManifestError",
    "NameResolutionFailed",
    "NotFoundInRegistry",
    "ProtocolError",
    "RedirectRefused",
    "RegistryError",
    "RegistryTimeout",
    "RegistryUnavailable",
    "TlsUntrusted",
    "TokenExchangeFailed",
    "UnexpectedResponse",
    "translate_transport_error",
]


class RegistryError(Error):
    """Base of every error raised while talking to a container registry."""

    status = 502
    kind = "registry-error"

    def __init__(
        self,
        message: str,
        *,
        registry: str,
        repository: str | None = None,
        details: list[str] | None = None,
    ) -> None:
        where = f"registry {registry}" + (f", repository {repository}" if repository else "")
        super().__init__(f"{where}: {message}", details=details)
        self.registry = registry
        self.repository = repository
        self.reason = message


class NameResolutionFailed(RegistryError):
    """The registry's host name does not resolve (DNS)."""

    kind = "registry-dns"


class ConnectionRefused(RegistryError):
    """Nothing accepts connections at the registry's address."""

    kind = "registry-connection-refused"


class RegistryTimeout(RegistryError):
    """Connecting to, or reading from, the registry took longer than allowed."""

    status = 504
    kind = "registry-timeout"


class TlsUntrusted(RegistryError):
    """The registry's TLS certificate is not trusted (or the handshake failed)."""

    kind = "registry-tls"

    def __init__(
        self,
        message: str,
        *,
        registry: str,
        repository: str | None = None,
        subject: str | None = None,
        issuer: str | None = None,
        details: list[str] | None = None,
    ) -> None:
        extra = list(details or [])
        if subject:
            extra.append(f"certificate subject: {subject}")
        if issuer:
            extra.append(f"certificate issuer: {issuer}")
        super().__init__(message, registry=registry, repository=repository, details=extra)
        self.subject = subject
        self.issuer = issuer


class RegistryUnavailable(RegistryError):
    """The registry answered 429 or 5xx and kept doing so after the allowed retries."""

    status = 503
    kind = "registry-unavailable"


class AuthenticationFailed(RegistryError):
    """The registry refused the credentials (401), or kept asking for them (a 401 loop)."""

    status = 401
    kind = "registry-unauthenticated"

    def __init__(
        self,
        message: str,
        *,
        registry: str,
        repository: str | None = None,
        realm: str | None = None,
        details: list[str] | None = None,
    ) -> None:
        extra = list(details or [])
        if realm:
            extra.append(f"authentication realm: {realm}")
        super().__init__(message, registry=registry, repository=repository, details=extra)
        self.realm = realm


class TokenExchangeFailed(AuthenticationFailed):
    """A token endpoint (registry token service or cloud identity endpoint) refused or misbehaved."""

    kind = "registry-token-exchange"


class AuthorizationDenied(RegistryError):
    """The registry knows who we are but forbids the operation (403)."""

    status = 403
    kind = "registry-forbidden"


class NotFoundInRegistry(RegistryError):
    """The repository, tag, manifest or blob does not exist (404)."""

    status = 404
    kind = "registry-not-found"


class ManifestError(RegistryError):
    """A manifest is malformed, too large, of an unexpected media type, or fails its digest."""

    kind = "registry-bad-manifest"


class BlobIntegrityError(RegistryError):
    """A blob's bytes do not match its digest or size, or the stream ended early."""

    kind = "registry-blob-integrity"


class RedirectRefused(RegistryError):
    """A redirect went to another host (not allowed for this request) or there were too many."""

    kind = "registry-redirect"


class ProtocolError(RegistryError):
    """The registry's answer does not follow the distribution protocol."""

    kind = "registry-protocol"


class UnexpectedResponse(RegistryError):
    """An HTTP status that the operation does not expect."""

    kind = "registry-unexpected-status"

    def __init__(
        self,
        message: str,
        *,
        registry: str,
        repository: str | None = None,
        status_code: int,
        details: list[str] | None = None,
    ) -> None:
        super().__init__(message, registry=registry, repository=repository, details=details)
        self.status_code = status_code


class InsecureTransportRefused(RegistryError):
    """Plain HTTP or unverified TLS was asked for a registry not used by development only."""

    status = 422
    kind = "registry-insecure-transport"


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ssl.SSLError):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, kind):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _looks_like_dns_failure(text: str) -> bool:
    lowered = text.lower()
    return any(
        marker in lowered
        for marker in (
            "name or service not known",
            "nodename nor servname",
            "temporary failure in name",
            "no address associated",
            "getaddrinfo failed",
            "name resolution",
        )
    )


def translate_transport_error(
    exc: httpx.TransportError | ssl.SSLError, *, registry: str, repository: str | None = None
) -> RegistryError:
    """Map an httpx transport exception (or a bare ``ssl.SSLError``, which httpcore lets
    through when a TLS 1.3 server rejects the client certificate after the handshake) to
    the matching :class:`RegistryError`.

    This is the only place the registry layer translates transport exceptions.
    """
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        phase = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "waiting for the registry"
        return RegistryTimeout(
            f"timed out while {phase} ({type(exc).__name__})", registry=registry, repository=repository
        )
    ssl_error = _ssl_cause(exc)
    if ssl_error is not None:
        verify_message = getattr(ssl_error, "verify_message", None)
        reason = verify_message or ssl_error.reason or str(ssl_error)
        return TlsUntrusted(
            f"TLS handshake failed: {reason}",
            registry=registry,
            repository=repository,
            details=["configure the registry's CA bundle, or check its certificate"],
        )
    if isinstance(exc, httpx.ConnectError):
        if _looks_like_dns_failure(text):
            return NameResolutionFailed(
                f"the host name does not resolve ({text})", registry=registry, repository=repository
            )
        # anyio reports "All connection attempts failed"; the refusal is further down the chain.
        if "refused" in text.lower() or _caused_by(exc, ConnectionRefusedError):
            return ConnectionRefused(
                "connection refused: nothing is listening at that address",
                registry=registry,
                repository=repository,
            )
        return ConnectionRefused(f"cannot connect ({text})", registry=registry, repository=repository)
    if isinstance(exc, httpx.RemoteProtocolError):
        return ProtocolError(
            f"the connection broke mid-response ({text})", registry=registry, repository=repository
        )
    return ProtocolError(
        f"transport failure ({type(exc).__name__}: {text})", registry=registry, repository=repository
    )
