"""Diagnostics for ``registry test NAME``: can we reach, trust, and authenticate to a registry?

:func:`probe` never raises for a registry-side failure: every failure becomes
a :class:`ProbeFailure` with its kind and an explanation (DNS, connection
refused, untrusted TLS with the certificate's subject and issuer, 401 with its
realm, 403, timeout, ...), and the report says how far the probe got.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harbourmaster.registry._session import ClientOptions
from harbourmaster.registry.challenge import parse_www_authenticate
from harbourmaster.registry.client import RegistryEndpoint
from harbourmaster.registry.errors import (
    AuthenticationFailed,
    AuthorizationDenied,
    RegistryError,
    TlsUntrusted,
)
from harbourmaster.registry.factory import HttpxClientFactory
from harbourmaster.registry.interface import CredentialProvider, RegistryClientFactory
from harbourmaster.registry.tls import peer_certificate_names

__all__ = ["ProbeFailure", "ProbeReport", "probe"]


@dataclass(frozen=True)
class ProbeFailure:
    """One thing that went wrong: a stable ``kind`` and a human explanation."""

    kind: str
    message: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProbeReport:
    """The outcome of probing one registry."""

    registry: str
    reachable: bool = False
    tls: str = "not-tested"  # verified | unverified | plain-http | untrusted | not-tested
    tls_subject: str | None = None
    tls_issuer: str | None = None
    authentication: str = "not-tested"  # anonymous | basic | bearer | failed | not-tested
    auth_realm: str | None = None
    api_version: str | None = None
    referrers_api: bool | None = None
    latency_ms: float | None = None
    failures: tuple[ProbeFailure, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.failures


def _failure(exc: RegistryError) -> ProbeFailure:
    return ProbeFailure(kind=exc.kind, message=exc.message, details=tuple(exc.details))


async def probe(
    endpoint: RegistryEndpoint,
    *,
    provider: CredentialProvider | None = None,
    repository: str | None = None,
    development_only: bool = False,
    options: ClientOptions | None = None,
    clients: RegistryClientFactory | None = None,
) -> ProbeReport:
    """Probe ``endpoint``: reachability, TLS, authentication, API version, referrers, latency.

    ``repository`` (optional) is used to test pull access and the referrers API.  The client
    and the host look-up come from ``clients`` (default: over the network).

    Raises:
        InsecureTransportRefused: the endpoint is insecure and not ``development_only``
            (a configuration error, not a registry failure).
    """
    opts = options or ClientOptions(connect_timeout=5.0, read_timeout=10.0, max_retries=0)
    host = endpoint.host
    failures: list[ProbeFailure] = []
    report: dict[str, object] = {"registry": host}
    parts = urlsplit(f"//{host}")
    port = parts.port or (80 if endpoint.security.plain_http else 443)
    clients = clients or HttpxClientFactory()
    try:
        await clients.resolve_host(parts.hostname or host, port)
    except OSError as exc:
        failures.append(
            ProbeFailure("registry-dns", f"registry {host}: the host name does not resolve ({exc})")
        )
        return ProbeReport(registry=host, failures=tuple(failures))

    async with clients.client(
        endpoint, provider=provider, options=opts, development_only=development_only
    ) as client:
        started = time.perf_counter()
        try:
            # An unauthenticated ping shows reachability, TLS and the challenge.
            raw = await client.unauthenticated_ping()
        except TlsUntrusted as exc:
            subject, issuer = await asyncio.to_thread(peer_certificate_names, parts.hostname or host, port)
            failures.append(
                _failure(
                    TlsUntrusted(
                        exc.reason, registry=host, subject=subject, issuer=issuer, details=list(exc.details)
                    )
                )
            )
            return ProbeReport(
                registry=host,
                reachable=True,
                tls="untrusted",
                tls_subject=subject,
                tls_issuer=issuer,
                failures=tuple(failures),
            )
        except RegistryError as exc:
            return ProbeReport(registry=host, failures=(_failure(exc),))
        report["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        report["reachable"] = True
        security = endpoint.security
        report["tls"] = (
            "plain-http" if security.plain_http else ("unverified" if security.skip_verify else "verified")
        )
        report["api_version"] = raw.headers.get("Docker-Distribution-API-Version")
        if raw.status_code == 401:
            try:
                challenges = parse_www_authenticate(raw.headers.get("www-authenticate", ""))
            except ValueError:
                challenges = []
            report["auth_realm"] = next((c.realm for c in challenges if c.realm), None)
            schemes = {c.scheme for c in challenges}
            report["authentication"] = "bearer" if "bearer" in schemes else "basic"
        elif raw.status_code == 200:
            report["authentication"] = "anonymous"
        else:
            failures.append(
                ProbeFailure(
                    "registry-unexpected-status",
                    f"registry {host}: GET /v2/ answered {raw.status_code}; is this a distribution registry?",
                )
            )
        if raw.status_code == 401:
            try:
                ping = await client.ping()
                report["api_version"] = ping.api_version or report["api_version"]
            except (AuthenticationFailed, AuthorizationDenied) as exc:
                report["authentication"] = "failed"
                report["auth_realm"] = getattr(exc, "realm", None) or report.get("auth_realm")
                failures.append(_failure(exc))
            except RegistryError as exc:
                failures.append(_failure(exc))
        if repository and not failures:
            try:
                await client.tags(repository, limit=1)
                report["referrers_api"] = await client.referrers_supported(repository)
            except RegistryError as exc:
                failures.append(_failure(exc))
    return ProbeReport(**report, failures=tuple(failures))  # type: ignore[arg-type]
