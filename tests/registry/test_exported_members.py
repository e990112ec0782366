from __future__ import annotations

import harbourmaster.registry as registry
import harbourmaster.registry.providers as providers


def test_public_api_is_pinned() -> None:
    assert sorted(registry.__all__) == sorted(
        [
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
    )
    for name in registry.__all__:
        assert hasattr(registry, name), name
    assert sorted(providers.__all__) == sorted(
        [
            "Acr",
            "Anonymous",
            "DockerHub",
            "Ecr",
            "Gar",
            "Ghcr",
            "GitLab",
            "Harbor",
            "ProGet",
            "Quay",
            "ServiceAccountKeyError",
            "UsernamePassword",
            "ecr_region",
        ]
    )


def test_errors_descend_from_the_root() -> None:
    from harbourmaster.errors import Error

    for name in registry.__all__:
        obj = getattr(registry, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, Error), name
