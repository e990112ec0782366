"""TLS to a Docker Engine's TCP socket, from PEM text in memory or from files.

The Docker SDK only takes file paths.  Here an :class:`ssl.SSLContext` is
built instead and handed to the SDK's HTTP session; an in-memory private key
is loaded through an anonymous in-memory file (``memfd_create``), so it never
touches a file system.
"""

from __future__ import annotations

import contextlib
import os
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from requests.adapters import HTTPAdapter

from harbourmaster.domain.secret import Secret

__all__ = ["EngineTls", "TlsContextAdapter", "ssl_context"]


@dataclass(frozen=True, slots=True)
class EngineTls:
    """How to verify a Docker Engine and authenticate to it (``dockerd --tlsverify``).

    Give the CA and the client certificate either as PEM text or as file
    paths.  The private key in memory is a :class:`Secret`.
    """

    ca_pem: str | None = None
    ca_file: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: Secret | None = field(default=None, repr=False)
    client_cert_file: str | None = None
    client_key_file: str | None = None


@contextlib.contextmanager
def _memory_file(text: str) -> Iterator[str]:
    fd = os.memfd_create("hm-engine-tls", os.MFD_CLOEXEC)
    try:
        os.write(fd, text.encode())
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def ssl_context(tls: EngineTls) -> ssl.SSLContext:
    """A client context that verifies the engine against the CA and presents the client certificate.

    Raises:
        ssl.SSLError, OSError, ValueError: a PEM or file cannot be read (the caller translates).
    """
    context = ssl.create_default_context(cafile=tls.ca_file, cadata=tls.ca_pem)
    if tls.client_cert_file and tls.client_key_file:
        context.load_cert_chain(tls.client_cert_file, tls.client_key_file)
    elif tls.client_cert_pem and tls.client_key_pem is not None:
        with _memory_file(tls.client_cert_pem) as cert, _memory_file(tls.client_key_pem.reveal()) as key:
            context.load_cert_chain(cert, key)
    elif tls.client_cert_pem or tls.client_key_pem or tls.client_cert_file or tls.client_key_file:
        raise ValueError("a client certificate needs both the certificate and its private key")
    return context


class TlsContextAdapter(HTTPAdapter):
    """A requests adapter whose every connection uses one prepared SSL context."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def build_connection_pool_key_attributes(
        self, request: Any, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, None)
        for key in ("ca_certs", "ca_cert_dir", "cert_file", "key_file"):
            pool_kwargs.pop(key, None)
        pool_kwargs["ssl_context"] = self._context
        pool_kwargs["cert_reqs"] = "CERT_REQUIRED"
        return host_params, pool_kwargs
