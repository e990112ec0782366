"""Registry connectivity: the OCI distribution protocol, its authentication and TLS.

The commands ``registry test``, ``registry browse`` and ``resolve`` call:

* :class:`RegistryClient` (with a :class:`RegistryEndpoint` and a provider from
  :mod:`harbourmaster.registry.providers`) for the protocol itself, made by a
  :class:`RegistryClientFactory` (:class:`HttpxClientFactory`, with httpx's ``transport`` seam);
* :func:`probe` for diagnostics, :func:`describe_image` / :func:`resolve_digest` for
  browse and resolve, :func:`pull_to_layout` / :func:`push_layout` for copies;
* :func:`check_transport` to refuse insecure transport outside development tiers.
"""

from __future__ import annotations

from harbourmaster.registry._session import ClientOptions
from harbourmaster.registry.auth import Anonymous, UsernamePassword
from harbourmaster.registry.browse import ImageSummary, PlatformImage, describe_image, resolve_digest
from harbourmaster.registry.challenge import Challenge, parse_www_authenticate
from harbourmaster.registry.client import (
    FetchedManifest,
    ManifestHead,
    Ping,
    Referrers,
    RegistryClient,
    RegistryEndpoint,
)
from harbourmaster.registry.errors import (
    AuthenticationFailed,
    AuthorizationDenied,
    BlobIntegrityError,
    ConnectionRefused,
    InsecureTransportRefused,
    ManifestError,
    NameResolutionFailed,
    NotFoundInRegistry,
    ProtocolError,
    RedirectRefused,
    RegistryError,
    RegistryTimeout,
    RegistryUnavailable,
    TlsUntrusted,
    TokenExchangeFailed,
    UnexpectedResponse,
)
from harbourmaster.registry.factory import HttpxClientFactory
from harbourmaster.registry.interface import (
    BearerToken,
    CredentialProvider,
    RegistryClientFactory,
    RegistryCredentials,
)
from harbourmaster.registry.layout import LayoutError, PullResult, pull_to_layout, push_layout
from harbourmaster.registry.media import Descriptor, Digest, ImageIndex, ImageManifest, Platform
from harbourmaster.registry.probe import ProbeFailure, ProbeReport, probe
from harbourmaster.registry.tls import ClientCertificate, TransportSecurity, check_transport

__all__ = [
    "Anonymous",
    "AuthenticationFailed",
    "AuthorizationDenied",
    "BearerToken",
    "BlobIntegrityError",
    "Challenge",
    "ClientCertificate",
    "ClientOptions",
    "ConnectionRefused",
    "CredentialProvider",
    "Descriptor",
    "Digest",
    "FetchedManifest",
    "HttpxClientFactory",
    "ImageIndex",
    "ImageManifest",
    "ImageSummary",
    "InsecureTransportRefused",
    "LayoutError",
    "ManifestError",
    "ManifestHead",
    "NameResolutionFailed",
    "NotFoundInRegistry",
    "Ping",
    "Platform",
    "PlatformImage",
    "ProbeFailure",
    "ProbeReport",
    "ProtocolError",
    "PullResult",
    "RedirectRefused",
    "Referrers",
    "RegistryClient",
    "RegistryClientFactory",
    "RegistryCredentials",
    "RegistryEndpoint",
    "RegistryError",
    "RegistryTimeout",
    "RegistryUnavailable",
    "TlsUntrusted",
    "TokenExchangeFailed",
    "TransportSecurity",
    "UnexpectedResponse",
    "UsernamePassword",
    "check_transport",
    "describe_image",
    "parse_www_authenticate",
    "probe",
    "pull_to_layout",
    "push_layout",
    "resolve_digest",
]
