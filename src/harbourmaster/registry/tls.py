"""Transport security for one registry: scheme, CA bundle, client certificate.

Plain HTTP and unverified TLS are allowed only for a registry that is used by
development-tier environments alone.  The caller knows the tiers (the
governance store does); it passes that fact to :func:`check_transport`, and
:class:`~harbourmaster.registry.client.RegistryClient` refuses an insecure
:class:`TransportSecurity` unless told the registry is development-only.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from harbourmaster.domain.secret import Secret
from harbourmaster.registry.errors import InsecureTransportRefused

__all__ = [
    "ClientCertificate",
    "TransportSecurity",
    "check_transport",
    "peer_certificate_names",
    "ssl_context",
    "verify_context",
]


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate chain (PEM) and its private key (PEM, secret)."""

    certificate_pem: str
    private_key_pem: Secret = field(repr=False)

    def __repr__(self) -> str:
        return "ClientCertificate(<certificate>, private_key=<redacted>)"


@dataclass(frozen=True)
class TransportSecurity:
    """How to reach a registry: HTTPS (default) with an optional extra CA bundle and client cert.

    ``plain_http`` and ``skip_verify`` are the insecure options; see :func:`check_transport`.
    """

    plain_http: bool = False
    skip_verify: bool = False
    ca_bundle_pem: str | None = None
    client_certificate: ClientCertificate | None = None

    @property
    def insecure(self) -> bool:
        return self.plain_http or self.skip_verify

    @property
    def scheme(self) -> str:
        return "http" if self.plain_http else "https"


def check_transport(security: TransportSecurity, *, registry: str, development_only: bool) -> None:
    """Refuse plain HTTP or unverified TLS unless the registry serves development tiers only.

    ``development_only`` is the caller's fact: every environment granted this
    registry is of the development tier.

    Raises:
        InsecureTransportRefused: the registry is insecure and not development-only.
    """
    if security.insecure and not development_only:
        what = "plain HTTP" if security.plain_http else "TLS without certificate verification"
        raise InsecureTransportRefused(
            f"{what} is allowed only for registries used by development-tier environments alone",
            registry=registry,
            details=[
                "configure HTTPS with the registry's CA bundle instead, "
                "or restrict the registry's grants to development environments"
            ],
        )


_CONTEXTS: OrderedDict[tuple[bool, str | None, str | None, str | None], ssl.SSLContext] = OrderedDict()
_CONTEXTS_MAX = 64
_CONTEXTS_LOCK = threading.Lock()


def ssl_context(security: TransportSecurity) -> ssl.SSLContext:
    """An SSL context trusting the system CAs plus the registry's CA bundle, with its client cert.

    Contexts are cached per configuration: building one loads the system CA store
    (tens of milliseconds), and a context is safe to share between clients.  The
    cache key holds a SHA-256 of the client key, never the key.

    Raises:
        ssl.SSLError: the CA bundle or client certificate is not valid PEM (the caller wraps it).
    """
    cert = security.client_certificate
    key = (
        security.skip_verify,
        security.ca_bundle_pem,
        cert.certificate_pem if cert else None,
        hashlib.sha256(cert.private_key_pem.reveal().encode()).hexdigest() if cert else None,
    )
    with _CONTEXTS_LOCK:
        cached = _CONTEXTS.get(key)
        if cached is not None:
            _CONTEXTS.move_to_end(key)
            return cached
    ctx = _build_ssl_context(security)
    with _CONTEXTS_LOCK:
        _CONTEXTS[key] = ctx
        while len(_CONTEXTS) > _CONTEXTS_MAX:
            _CONTEXTS.popitem(last=False)
    return ctx


def _build_ssl_context(security: TransportSecurity) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if security.skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if security.ca_bundle_pem:
        ctx.load_verify_locations(cadata=security.ca_bundle_pem)
    if security.client_certificate is not None:
        # ssl only loads keys from files: write them to a private directory, load, delete.
        with tempfile.TemporaryDirectory(prefix="hm-client-cert-") as tmp:
            cert_path = os.path.join(tmp, "cert.pem")
            key_path = os.path.join(tmp, "key.pem")
            for path, text in (
                (cert_path, security.client_certificate.certificate_pem),
                (key_path, security.client_certificate.private_key_pem.reveal()),
            ):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as fh:
                    fh.write(text)
            ctx.load_cert_chain(cert_path, key_path)
    return ctx


def peer_certificate_names(host: str, port: int, *, timeout: float = 5.0) -> tuple[str | None, str | None]:
    """The (subject, issuer) of the certificate a TLS server presents, without trusting it.

    Used to explain an untrusted-certificate failure.  Returns ``(None, None)``
    when the certificate cannot be had.
    """
    import socket

    from cryptography import x509

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=timeout) as sock,
            ctx.wrap_socket(sock, server_hostname=host) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError):
        return None, None
    if not der:
        return None, None
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None, None
    return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()


def verify_context(security: TransportSecurity, *, registry: str) -> ssl.SSLContext:
    """:func:`ssl_context` for an HTTP client of ``registry``.

    Raises:
        InsecureTransportRefused: the CA bundle or client certificate cannot be loaded.
    """
    try:
        return ssl_context(security)
    except ssl.SSLError as exc:
        raise InsecureTransportRefused(
            f"cannot load the CA bundle or client certificate ({exc.reason})", registry=registry
        ) from None
