"""Real CNCF distribution registries for integration tests, in five set-ups.

Use them from a test module with::

    pytest_plugins = ["tests.integration.registry_fixtures"]

(or register that line once in the root ``tests/conftest.py``).  Fixtures, all
session-scoped, each yielding a :class:`RunningRegistry`:

``registry_anonymous``  plain HTTP, no auth.
``registry_basic``      plain HTTP, htpasswd basic auth (user/password in the object).
``registry_tls``        HTTPS with a CA the tests generate (``ca_pem``), no auth.
``registry_mtls``       HTTPS that also requires a client certificate signed by that CA.
``registry_token``      plain HTTP, ``auth.token`` with a token issuer run by the tests
                        (:class:`TokenIssuer`, RS256 JWTs with an ``x5c`` header whose
                        self-signed certificate is the registry's ``rootcertbundle``).

Image helpers: :func:`write_image_layout` writes an OCI image layout (single image
or multi-arch index) with random, incompressible layers; :func:`skopeo` runs
skopeo with the right TLS/credential flags for a :class:`RunningRegistry`.
Every process binds 127.0.0.1 on a free port, uses a temporary directory and is
stopped by process id at the end of the session.  Under ``CI=true`` a missing
binary fails the test (``tests.components.unavailable``).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import ipaddress
import json
import os
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harbourmaster.domain.secret import Secret
from harbourmaster.registry import (
    ClientCertificate,
    CredentialProvider,
    RegistryClient,
    RegistryEndpoint,
    TransportSecurity,
    UsernamePassword,
)
from tests.components import ensure_binary, free_port, stop_process, wait_until

__all__ = [
    "CertificateAuthority",
    "RunningRegistry",
    "TokenIssuer",
    "registry_anonymous",
    "registry_basic",
    "registry_mtls",
    "registry_tls",
    "registry_token",
    "skopeo",
    "start_registry",
    "write_image_layout",
]

USERNAME = "hm-tester"
# A canary: tests search every message, log record and repr for it.
PASSWORD = "canary-Pw-7f3a9c1e-never-print"
TOKEN_SERVICE = "harbourmaster-test-registry"
TOKEN_ISSUER = "harbourmaster-test-issuer"


# -- certificates ---------------------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "harbourmaster tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _pem_key(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass
class CertificateAuthority:
    """A test CA that issues server and client certificates."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @classmethod
    def create(cls, cn: str = "harbourmaster test CA") -> CertificateAuthority:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(_name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key=key, cert=cert)

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def issue(self, cn: str, *, server: bool) -> tuple[str, str]:
        """(certificate PEM, private key PEM) for 127.0.0.1/localhost (server) or a client."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        cert = builder.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key)


# -- token issuer ---------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenIssuer:
    """A token service for ``auth.token``: RS256 JWTs the distribution registry accepts.

    It grants every requested action to :data:`USERNAME`/:data:`PASSWORD`, nothing
    to anonymous callers, and answers 401 to wrong credentials.  It records the
    requests it served (``requests``: list of (authorised user or None, scopes)).
    """

    def __init__(self, directory: Path, *, lifetime: int = 300) -> None:
        self.lifetime = lifetime
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        name = _name("harbourmaster test token signer")
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = directory / "token-root.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self.requests: list[tuple[str | None, list[str]]] = []
        self._lock = threading.Lock()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                scopes = query.get("scope", [])
                user = issuer._check(self.headers.get("Authorization"))
                if user is False:
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}')
                    return
                with issuer._lock:
                    issuer.requests.append((user or None, scopes))
                token = issuer.sign(user or "", scopes if user else [], service=query.get("service", [""])[0])
                body = json.dumps(
                    {
                        "token": token,
                        "access_token": token,
                        "expires_in": issuer.lifetime,
                        "issued_at": dt.datetime.now(dt.UTC).isoformat(),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @staticmethod
    def _check(header: str | None) -> str | bool:
        if not header:
            return ""
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user if (user, password) == (USERNAME, PASSWORD) else False

    def sign(self, subject: str, scopes: list[str], *, service: str) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]})
        now = int(dt.datetime.now(dt.UTC).timestamp())
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()],
        }
        claims = {
            "iss": TOKEN_ISSUER,
            "sub": subject,
            "aud": service or TOKEN_SERVICE,
            "exp": now + self.lifetime,
            "nbf": now - 5,
            "iat": now,
            "jti": os.urandom(8).hex(),
            "access": access,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the registry ---------------------------------------------------------------------------------


@dataclass
class RunningRegistry:
    """A running ``docker-registry`` and what a client needs to reach it."""

    host: str
    root: Path
    scheme: str = "http"
    username: str | None = None
    password: str | None = None
    ca_pem: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: str | None = None
    token_issuer: TokenIssuer | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def ca_file(self) -> Path | None:
        return self.root / "ca.pem" if self.ca_pem else None

    def endpoint(self, *, trust_ca: bool = True, client_certificate: bool = True) -> RegistryEndpoint:
        """The endpoint for harbourmaster's client: plain HTTP, or HTTPS trusting the test CA."""
        if self.scheme == "http":
            return RegistryEndpoint(self.host, TransportSecurity(plain_http=True))
        cert = None
        if client_certificate and self.client_cert_pem and self.client_key_pem:
            cert = ClientCertificate(
                certificate_pem=self.client_cert_pem, private_key_pem=Secret(self.client_key_pem)
            )
        return RegistryEndpoint(
            self.host,
            TransportSecurity(ca_bundle_pem=self.ca_pem if trust_ca else None, client_certificate=cert),
        )

    def provider(self, *, password: str | None = None) -> CredentialProvider | None:
        """Basic credentials for htpasswd/token set-ups (``password`` overrides), else None."""
        if not self.username:
            return None
        return UsernamePassword(self.username, Secret(password or self.password or ""))

    def client(self, **kwargs: Any) -> RegistryClient:
        """A :class:`RegistryClient` for this registry (plain HTTP is development-only here)."""
        kwargs.setdefault("provider", self.provider())
        return RegistryClient(self.endpoint(), development_only=self.scheme == "http", **kwargs)


def start_registry(directory: Path, *, auth: str | None = None, tls: str | None = None) -> RunningRegistry:
    """Start ``docker-registry serve`` in ``directory``; ``auth`` is None/"htpasswd"/"token",
    ``tls`` None/"server"/"mutual".  Stop it with ``stop_process(registry.proc)``."""
    binary = ensure_binary("docker-registry", "docker-registry")
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    reg = RunningRegistry(host=f"127.0.0.1:{port}", root=directory)
    if auth == "htpasswd":
        ensure_binary("htpasswd", "apache2-utils")
        subprocess.run(
            ["htpasswd", "-Bbc", str(directory / "htpasswd"), USERNAME, PASSWORD],
            check=True,
            capture_output=True,
        )
        config["auth"] = {
            "htpasswd": {"realm": "harbourmaster-basic-realm", "path": str(directory / "htpasswd")}
        }
        reg.username, reg.password = USERNAME, PASSWORD
    elif auth == "token":
        issuer = TokenIssuer(directory)
        config["auth"] = {
            "token": {
                "realm": issuer.realm,
                "service": TOKEN_SERVICE,
                "issuer": TOKEN_ISSUER,
                "rootcertbundle": str(issuer.bundle),
            }
        }
        reg.username, reg.password, reg.token_issuer = USERNAME, PASSWORD, issuer
    if tls:
        ca = CertificateAuthority.create()
        cert_pem, key_pem = ca.issue("127.0.0.1", server=True)
        (directory / "ca.pem").write_text(ca.pem)
        (directory / "server.pem").write_text(cert_pem)
        (directory / "server.key").write_text(key_pem)
        tls_conf: dict[str, object] = {
            "certificate": str(directory / "server.pem"),
            "key": str(directory / "server.key"),
        }
        if tls == "mutual":
            tls_conf["clientcas"] = [str(directory / "ca.pem")]
            reg.client_cert_pem, reg.client_key_pem = ca.issue("harbourmaster-client", server=False)
        config["http"] = {"addr": f"127.0.0.1:{port}", "tls": tls_conf}
        reg.scheme, reg.ca_pem = "https", ca.pem
    (directory / "config.yml").write_text(json.dumps(config))  # JSON is YAML
    log = open(directory / "registry.log", "wb")  # noqa: SIM115 - lives as long as the process
    reg.proc = subprocess.Popen([binary, "serve", str(directory / "config.yml")], stdout=log, stderr=log)

    def ready() -> bool:
        assert reg.proc is not None
        if reg.proc.poll() is not None:
            raise pytest.fail.Exception(f"docker-registry exited: {(directory / 'registry.log').read_text()}")
        if tls:
            import socket

            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        return httpx.get(f"{reg.url}/v2/", timeout=1).status_code in (200, 401)

    wait_until(ready, what=f"docker-registry ({auth or 'anonymous'}, {tls or 'plain'})")
    return reg


def _stop(reg: RunningRegistry) -> None:
    if reg.proc is not None:
        stop_process(reg.proc)
    if reg.token_issuer is not None:
        reg.token_issuer.close()


def _session_registry(
    factory: pytest.TempPathFactory, name: str, **kwargs: str | None
) -> Iterator[RunningRegistry]:
    reg = start_registry(factory.mktemp(name), **kwargs)
    try:
        yield reg
    finally:
        _stop(reg)


@pytest.fixture(scope="session")
def registry_anonymous(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A plain-HTTP registry without authentication."""
    yield from _session_registry(tmp_path_factory, "registry-anonymous")


@pytest.fixture(scope="session")
def registry_basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A plain-HTTP registry with htpasswd basic auth (``username``/``password``)."""
    yield from _session_registry(tmp_path_factory, "registry-basic", auth="htpasswd")


@pytest.fixture(scope="session")
def registry_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """An HTTPS registry whose certificate is signed by a test CA (``ca_pem``/``ca_file``)."""
    yield from _session_registry(tmp_path_factory, "registry-tls", tls="server")


@pytest.fixture(scope="session")
def registry_mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """An HTTPS registry that requires a client certificate (``client_cert_pem``/``client_key_pem``)."""
    yield from _session_registry(tmp_path_factory, "registry-mtls", tls="mutual")


@pytest.fixture(scope="session")
def registry_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A plain-HTTP registry with ``auth.token`` backed by a :class:`TokenIssuer`."""
    yield from _session_registry(tmp_path_factory, "registry-token", auth="token")


# -- images ---------------------------------------------------------------------------------------


def _blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"sha256:{digest}"


def _layer(seed: bytes, size: int) -> bytes:
    # Incompressible content derived from the seed, so layers differ and gzip cannot shrink them.
    chunks, counter = [], 0
    while sum(len(c) for c in chunks) < size:
        chunks.append(hashlib.sha512(seed + counter.to_bytes(8, "big")).digest())
        counter += 1
    payload = b"".join(chunks)[:size]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"data/{seed.hex()[:16]}.bin")
        info.size, info.mtime = len(payload), 0
        tar.addfile(info, io.BytesIO(payload))
    return gzip.compress(buf.getvalue(), compresslevel=1, mtime=0)


def _image(
    layout: Path, *, seed: str, arch: str, layer_sizes: tuple[int, ...], created: str
) -> dict[str, object]:
    layers = [_layer(f"{seed}/{arch}/{i}".encode(), size) for i, size in enumerate(layer_sizes)]
    diff_ids = [f"sha256:{hashlib.sha256(gzip.decompress(b)).hexdigest()}" for b in layers]
    config = json.dumps(
        {
            "created": created,
            "architecture": arch,
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": _blob(layout, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _blob(layout, b),
                "size": len(b),
            }
            for b in layers
        ],
    }
    raw = json.dumps(manifest).encode()
    return {
        "mediaType": manifest["mediaType"],
        "digest": _blob(layout, raw),
        "size": len(raw),
        "platform": {"architecture": arch, "os": "linux"},
    }


def write_image_layout(
    layout: Path,
    *,
    tag: str = "v1",
    seed: str = "hm",
    architectures: tuple[str, ...] = ("amd64",),
    layer_sizes: tuple[int, ...] = (4096, 20000),
    created: str = "2024-05-01T12:00:00Z",
) -> str:
    """Write an OCI image layout holding one image (one architecture) or a multi-arch index.

    Returns the digest of the top manifest (the index for several architectures).
    """
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    entries = [
        _image(layout, seed=seed, arch=a, layer_sizes=layer_sizes, created=created) for a in architectures
    ]
    if len(entries) == 1:
        top = dict(entries[0])
        top.pop("platform")
    else:
        raw = json.dumps(
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries}
        ).encode()
        top = {
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": _blob(layout, raw),
            "size": len(raw),
        }
    top["annotations"] = {"org.opencontainers.image.ref.name": tag}
    index_path = layout / "index.json"
    existing = json.loads(index_path.read_text())["manifests"] if index_path.exists() else []
    existing = [
        m for m in existing if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag
    ]
    index_path.write_text(json.dumps({"schemaVersion": 2, "manifests": [*existing, top]}))
    return str(top["digest"])


def skopeo(registry: RunningRegistry | None, *args: str, creds: bool = True, timeout: float = 120) -> str:
    """Run ``skopeo`` with TLS and credential flags for ``registry``; returns stdout.

    The flags are inserted after the subcommand (``copy``, ``inspect``, ...).
    """
    binary = ensure_binary("skopeo", "skopeo")
    command, rest = args[0], list(args[1:])
    flags: list[str] = []
    if registry is not None:
        tls_flags = {"copy": ["--src-tls-verify=false", "--dest-tls-verify=false"]}.get(
            command, ["--tls-verify=false"]
        )
        flags += tls_flags
        if creds and registry.username:
            cred = f"{registry.username}:{registry.password}"
            flags += ["--src-creds", cred, "--dest-creds", cred] if command == "copy" else ["--creds", cred]
    result = subprocess.run(
        [binary, "--insecure-policy", command, *flags, *rest],
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"skopeo {command} failed: {result.stderr.decode(errors='replace')[-2000:]}")
    return result.stdout.decode()


def push_dpkg_image(registry: RunningRegistry, root: Path, repository: str) -> str:
    """Push ``repository:v1`` with skopeo: one gzip layer holding this machine's dpkg status and
    os-release (so its SBOM lists the Debian packages installed here); its digest."""
    from tests.supply._images import compress, file, tar_bytes
    from tests.supply._layouts import add_image, write_index

    layout = root / "image"
    status = Path("/var/lib/dpkg/status").read_text()
    os_release = Path("/usr/lib/os-release").read_text()
    layer = compress(
        tar_bytes([file("var/lib/dpkg/status", status), file("etc/os-release", os_release)]), "gzip"
    )
    write_index(layout, [add_image(layout, [layer])], ["v1"])
    skopeo(registry, "copy", f"oci:{layout}:v1", f"docker://{registry.host}/{repository}:v1")
    return skopeo(
        registry, "inspect", "--format", "{{.Digest}}", f"docker://{registry.host}/{repository}:v1"
    ).strip()
