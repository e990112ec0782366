"""How :mod:`.jit_secrets` reaches an API server: a connection read from arguments or kubeconfig text,
and the official client's ``ApiClient`` for it. Nothing is written to disk: the client takes client
certificates as file paths only, so its connection pool is given an SSL context with the certificate and
key loaded from memory instead (the key through an anonymous in-memory file, as for a Docker Engine)."""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import urllib3
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harbourmaster.deploy._engine_tls import EngineTls, ssl_context
from harbourmaster.deploy.interface import DeployError, EngineUnreachable
from harbourmaster.deploy.kubernetes._jit_objects import NamespaceGone
from harbourmaster.domain.secret import Secret

__all__ = ["ApiServerConnection", "ExpectedStatus", "api_client", "call_api", "parse_kubeconfig"]


@dataclass(frozen=True, slots=True)
class ApiServerConnection:
    """An API server, how to trust it and how to authenticate to it (PEM text in memory)."""

    api_server: str
    token: Secret | None = field(default=None, repr=False)
    ca_pem: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: Secret | None = field(default=None, repr=False)
    insecure_skip_tls_verify: bool = False
    tls_server_name: str | None = None


def api_client(connection: ApiServerConnection) -> client.ApiClient:
    """The official client for ``connection``; retries off, so an unreachable server fails at once.

    Raises:
        DeployError: the CA, client certificate or key cannot be read.
    """
    configuration = client.Configuration(host=connection.api_server, ca_cert_data=connection.ca_pem)
    configuration.verify_ssl = not connection.insecure_skip_tls_verify
    configuration.tls_server_name = connection.tls_server_name
    configuration.retries = False
    if connection.token is not None:
        configuration.api_key = {"BearerToken": connection.token.reveal()}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}
    api = client.ApiClient(configuration)
    if connection.client_cert_pem is None and connection.client_key_pem is None:
        return api
    tls = EngineTls(
        ca_pem=connection.ca_pem,
        client_cert_pem=connection.client_cert_pem,
        client_key_pem=connection.client_key_pem,
    )
    try:
        context = ssl_context(tls)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise DeployError(
            f"the CA, client certificate or key for {connection.api_server} cannot be read "
            f"({type(exc).__name__})"
        ) from None
    if connection.insecure_skip_tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    options: dict[str, Any] = {"ssl_context": context, "retries": False}
    if connection.tls_server_name:
        options["server_hostname"] = connection.tls_server_name
    api.rest_client.pool_manager = urllib3.PoolManager(**options)
    return api


def parse_kubeconfig(text: str, context: str | None = None) -> ApiServerConnection:
    """The connection of kubeconfig ``text``'s current context (or ``context``).

    Raises:
        DeployError: not a kubeconfig; the context, cluster or user is missing; the user has neither a
            token nor inline client certificate data (exec plugins and files are not supported).
    """
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DeployError(f"the kubeconfig is not YAML ({type(exc).__name__})") from None
    if not isinstance(config, dict):
        raise DeployError("the kubeconfig is not a mapping")

    def named(section: str, name: object) -> dict[str, Any]:
        for entry in config.get(section) or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                return dict(entry.get(section[:-1]) or {})
        raise DeployError(f"the kubeconfig has no {section[:-1]} named {name!r}")

    def pem(value: object) -> str | None:
        try:
            return base64.b64decode(str(value), validate=True).decode() if value else None
        except ValueError:
            raise DeployError("a *-data field of the kubeconfig is not base64 PEM") from None

    ctx = named("contexts", context or config.get("current-context"))
    cluster, user = named("clusters", ctx.get("cluster")), named("users", ctx.get("user"))
    key = pem(user.get("client-key-data"))
    if not user.get("token") and not (user.get("client-certificate-data") and key):
        raise DeployError(
            f"user {ctx.get('user')!r} of the kubeconfig has no token and no client-certificate-data "
            "and client-key-data: exec plugins and certificate files are not supported"
        )
    server = cluster.get("server")
    if not isinstance(server, str) or not server:
        raise DeployError(f"cluster {ctx.get('cluster')!r} of the kubeconfig has no server")
    return ApiServerConnection(
        api_server=server.rstrip("/"),
        token=Secret(str(user["token"])) if user.get("token") else None,
        ca_pem=pem(cluster.get("certificate-authority-data")),
        client_cert_pem=pem(user.get("client-certificate-data")),
        client_key_pem=Secret(key) if key else None,
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name"),
    )


class ExpectedStatus(Exception):
    """The status a caller expects and handles (a delete finding nothing, a create finding one)."""


def call_api(
    server: str,
    what: str,
    call: Callable[[], Any],
    *,
    namespace: str | None = None,
    expected: int | None = None,
) -> dict[str, Any]:
    """One request made with ``_preload_content=False``, its JSON answer; the client's exceptions are
    translated here and only here. ``what`` completes "could not ..." in messages.

    Raises:
        ExpectedStatus: the answer has status ``expected``.
        EngineUnreachable: no connection, or TLS failed.
        NamespaceGone: ``namespace`` does not exist or is being deleted.
        DeployError: any other refusal, with the API server's status message.
    """
    try:
        response = call()
    except ApiException as exc:
        status, reason, message = exc.status, exc.reason, _status_message(exc.body)
        if not status:  # the client's wrapping of a TLS failure
            raise EngineUnreachable(
                f"the Kubernetes API server {server} cannot be reached to {what} "
                f"(TLS: {' '.join(str(reason).split())[:200]})",
                details=["check the server address, its CA certificate and the client certificate"],
            ) from None
        if status == expected:
            raise ExpectedStatus from None
        if namespace is not None and (
            (status == 404 and f'namespaces "{namespace}" not found' in message)
            or (status == 403 and "being terminated" in message)
        ):
            raise NamespaceGone(
                f"namespace {namespace} does not exist or is being deleted on {server}: could not {what}"
            ) from None
        raise DeployError(f"{server} refused to {what}: {status} {reason}: {message}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise EngineUnreachable(
            f"the Kubernetes API server {server} cannot be reached to {what} ({type(exc).__name__})",
            details=["check the server address, the network and the CA certificate"],
        ) from exc
    if response.status >= 400:
        raise DeployError(f"{server} refused to {what}: {response.status}")
    data = response.data
    return json.loads(data) if data else {}


def _status_message(body: object) -> str:
    # The API server answers a ``Status``; only its message is kept (never the request echoed back).
    try:
        status = json.loads(body) if isinstance(body, str | bytes) else {}
    except ValueError:
        return ""
    return str(status.get("message", ""))[:300] if isinstance(status, dict) else ""
