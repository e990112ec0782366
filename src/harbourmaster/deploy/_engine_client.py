"""What the Docker Engine targets (standalone and Swarm) share: the client, its errors, registry auth.

:func:`open_api` reaches an engine over a unix socket or TCP (with
:class:`~harbourmaster.deploy._engine_tls.EngineTls`); :class:`EngineErrors`
translates the SDK's and requests' exceptions into harbourmaster errors,
with every credential of the operation in progress scrubbed from the text;
:func:`registry_auth_header` is the ``X-Registry-Auth`` value of one
credential, built in memory and never read from ``~/.docker/config.json``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
from collections.abc import Iterable, Iterator

import docker
import requests

from harbourmaster.deploy._engine_tls import EngineTls, TlsContextAdapter, ssl_context
from harbourmaster.deploy.interface import DeployError, EngineUnreachable, RegistryAuth

__all__ = ["API_VERSION", "EngineErrors", "open_api", "registry_auth_header"]

#: Docker Engine API version spoken (Engine 20.10 and later).
API_VERSION = "1.41"
_REDACTED = "<redacted>"
_UNIX = re.compile(r"^unix://(/.+)$")
_TCP = re.compile(r"^(?:tcp|https?)://([^/]+)/?$")


def open_api(endpoint: str, *, tls: EngineTls | None, timeout: float) -> docker.APIClient:
    """An SDK client for ``unix:///path/docker.sock`` or ``tcp://host:port`` (``tls`` for TCP only).

    Raises:
        DeployError: the endpoint is neither form, or TLS is given for a unix socket.
        EngineUnreachable: the client cannot be set up (a TLS file or PEM is unreadable).
    """
    unix, tcp = _UNIX.match(endpoint), _TCP.match(endpoint)
    if not unix and not tcp:
        raise DeployError(f"Docker endpoint {endpoint!r}: use unix:///path/docker.sock or tcp://host:port")
    if tls is not None and not tcp:
        raise DeployError(f"Docker endpoint {endpoint!r}: TLS applies to tcp:// endpoints only")
    try:
        if tcp and tls is not None:
            context = ssl_context(tls)
            api = docker.APIClient(base_url=f"tcp://{tcp[1]}", version=API_VERSION, timeout=timeout, tls=True)
            api.mount("https://", TlsContextAdapter(context))
            return api
        return docker.APIClient(
            base_url=endpoint if unix else f"tcp://{tcp[1]}",  # type: ignore[index]
            version=API_VERSION,
            timeout=timeout,
        )
    except (OSError, ValueError, docker.errors.DockerException) as exc:
        raise EngineUnreachable(f"Docker engine {endpoint}: cannot set up the client: {exc}") from None


def registry_auth_header(auth: RegistryAuth | None, registry: str) -> str:
    """The ``X-Registry-Auth`` value for ``registry``: base64url JSON; ``{}`` (anonymous) without ``auth``."""
    config = (
        {"username": auth.username, "password": auth.password.reveal(), "serveraddress": registry}
        if auth is not None
        else {}
    )
    return base64.urlsafe_b64encode(json.dumps(config).encode()).decode()


class EngineErrors:
    """Translates exceptions at the engine boundary; scrubs the credentials in :attr:`secrets`."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.secrets: tuple[str, ...] = ()

    @contextlib.contextmanager
    def holding(self, credentials: Iterable[RegistryAuth], registries: Iterable[str]) -> Iterator[None]:
        """Scrub these credentials (and their ``X-Registry-Auth`` forms) from every message meanwhile."""
        auths = list(credentials)
        hosts = list(registries)
        self.secrets = tuple(a.password.reveal() for a in auths) + tuple(
            registry_auth_header(a, host) for a in auths for host in hosts
        )
        try:
            yield
        finally:
            self.secrets = ()

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, _REDACTED)
        return text

    @contextlib.contextmanager
    def translate(self, what: str) -> Iterator[None]:
        """Translate the SDK's and requests' exceptions into harbourmaster errors naming ``what``."""
        try:
            yield
        except requests.exceptions.ConnectionError as exc:
            raise EngineUnreachable(
                f"{what}: Docker engine {self.endpoint} is unreachable: {self.scrub(_reason(exc))}",
                details=["check that the daemon runs and the socket or address (and TLS files) are right"],
            ) from None
        except requests.exceptions.HTTPError as exc:
            # The SDK leaves a streamed request's error status to requests; the engine's reason is the body.
            raise DeployError(f"{what}: {self.scrub(_http_reason(exc))}") from None
        except requests.exceptions.RequestException as exc:
            raise EngineUnreachable(
                f"{what}: Docker engine {self.endpoint}: {self.scrub(_reason(exc))}"
            ) from None
        except docker.errors.APIError as exc:
            raise DeployError(f"{what}: {self.scrub(str(exc.explanation or exc))}") from None
        except docker.errors.DockerException as exc:
            raise DeployError(f"{what}: {self.scrub(str(exc))}") from None


def _http_reason(exc: requests.exceptions.HTTPError) -> str:
    response = exc.response
    if response is None:
        return str(exc)
    try:
        message = response.json().get("message")
    except ValueError:
        message = response.text.strip()
    return f"the engine answered {response.status_code}: {message or response.reason}"


def _reason(exc: BaseException) -> str:
    # requests nests urllib3's reason; its innermost text names the socket or address and the errno.
    inner: BaseException = exc
    while inner.args and isinstance(inner.args[0], BaseException):
        inner = inner.args[0]
    reason = getattr(inner, "reason", None)
    return str(reason or inner)
