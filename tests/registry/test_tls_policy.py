from __future__ import annotations

import ssl

import pytest

from harbourmaster.domain.secret import Secret
from harbourmaster.registry import (
    ClientCertificate,
    InsecureTransportRefused,
    RegistryClient,
    RegistryEndpoint,
    TransportSecurity,
    check_transport,
)


@pytest.mark.parametrize(
    "security", [TransportSecurity(plain_http=True), TransportSecurity(skip_verify=True)]
)
def test_insecure_transport_refused_outside_development(security: TransportSecurity) -> None:
    with pytest.raises(InsecureTransportRefused) as info:
        check_transport(security, registry="reg.example.com", development_only=False)
    assert "reg.example.com" in str(info.value) and "development" in str(info.value)
    with pytest.raises(InsecureTransportRefused):
        RegistryClient(RegistryEndpoint("reg.example.com", security))
    check_transport(security, registry="reg.example.com", development_only=True)


def test_secure_transport_always_allowed() -> None:
    check_transport(TransportSecurity(), registry="r", development_only=False)


def test_bad_ca_bundle_is_a_clear_error() -> None:
    with pytest.raises(InsecureTransportRefused, match="CA bundle"):
        RegistryClient(
            RegistryEndpoint("r.example", TransportSecurity(ca_bundle_pem="-----BEGIN CERTIFICATE-----\nxx"))
        )


def test_client_certificate_repr_hides_key() -> None:
    cert = ClientCertificate(certificate_pem="PEM", private_key_pem=Secret("super-secret-key"))
    assert "super-secret-key" not in repr(cert)
    assert "super-secret-key" not in repr(TransportSecurity(client_certificate=cert))


def test_ssl_contexts_are_cached_per_configuration() -> None:
    from harbourmaster.registry.tls import ssl_context

    plain = TransportSecurity()
    assert ssl_context(plain) is ssl_context(TransportSecurity())
    unverified = ssl_context(TransportSecurity(skip_verify=True))
    assert unverified is not ssl_context(plain)
    assert unverified.verify_mode == ssl.CERT_NONE and ssl_context(plain).verify_mode == ssl.CERT_REQUIRED
