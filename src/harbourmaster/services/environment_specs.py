"""An environment as the governance document describes it, checked and turned into the domain's
:class:`~harbourmaster.domain.model.Environment`, with its connection (how deployments reach it).

The connection's rules (each broken one is a violation naming the field):

- docker-standalone and swarm: ``endpoint`` is ``unix:///absolute/path`` or ``tcp://host:port``.  A
  TCP endpoint needs ``tls`` with a client certificate and key, since the engine's API is root on its
  host; only a development-tier environment may say ``tls.insecure`` instead (plain TCP).  Kubernetes
  fields are refused.
- kubernetes: ``api_server`` is ``https://host[:port]`` and needs a ``token`` or a TLS client
  certificate; ``service_account_issuer`` and ``jwks`` come together (the kubelet credential
  provider's pod tokens are checked against them).  ``endpoint`` is refused.
- secrets (``token``, ``tls.client_key``) are references (``env:VAR``, ``file:/path``) resolved by the
  CLI and sealed in the vault, bound to the endpoint or API server they were entered for; omitted, the
  stored one is kept (as a registry's credential is) unless the endpoint or API server moved.
- kubernetes may give ``kubeconfig`` (a reference, with ``kubeconfig_context``) instead of
  ``api_server``, ``tls`` and ``token`` (never with them): read by the CLI at apply time
  (:mod:`.environment_kubeconfig`), it stands for those fields exactly, so the stored environment is the
  same as if they were given.  Its credential is always in it, so it is sealed again only when it
  changed (the same kubeconfig applied again is a no-op) and a moved server brings its own token.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from harbourmaster.domain.model import (
    Environment,
    EnvironmentConnection,
    EnvironmentKind,
    TlsSettings,
)
from harbourmaster.domain.secret import SecretReferenceError, parse_secret_reference
from harbourmaster.domain.state import Violation
from harbourmaster.services.document import EnvironmentSpec
from harbourmaster.services.environment_kubeconfig import KubeconfigConnection
from harbourmaster.services.registry_specs import read_host_text, read_pem
from harbourmaster.vault.references import HostFiles

__all__ = ["MAX_JWKS_BYTES", "environment_from_spec"]

#: The largest JWKS document read.
MAX_JWKS_BYTES = 256 * 1024
_KUBERNETES_ONLY = ("api_server", "token", "service_account_issuer", "jwks")
#: What a kubeconfig stands for.
_KUBECONFIG_FIELDS = ("api_server", "tls", "token")


def environment_from_spec(
    spec: EnvironmentSpec,
    *,
    path: str,
    problems: list[Violation],
    existing: Environment | None = None,
    host: HostFiles | None = None,
    kubeconfig: KubeconfigConnection | None = None,
) -> Environment:
    """The environment ``spec`` describes (its problems appended to ``problems``); ``existing`` is the
    stored one, whose secrets an entry without its references keeps.  ``kubeconfig`` is what the
    entry's ``kubeconfig`` reference was read as (None when it could not be: that was reported)."""
    if spec.kubeconfig is not None or spec.kubeconfig_context is not None:
        connection = _from_kubeconfig(spec, kubeconfig, path=path, problems=problems, host=host)
    else:
        connection = _connection(spec, path=path, problems=problems, existing=existing, host=host)
    return Environment(
        spec.name,
        spec.kind,
        spec.tier,
        spec.group,
        tuple(spec.namespaces),
        spec.hide_dockerhub_anonymous,
        admission=spec.admission,
        failure_policy=spec.failure_policy,
        connection=connection,
    )


def _reference(value: str | None, field: str, problems: list[Violation]) -> bool:
    """Whether ``value`` is given; a malformed reference is a violation at ``field``."""
    if value is None:
        return False
    try:
        parse_secret_reference(value, field=field)
    except SecretReferenceError as exc:
        problems.append(Violation(field, exc.message))
    return True


def _connection(
    spec: EnvironmentSpec,
    *,
    path: str,
    problems: list[Violation],
    existing: Environment | None,
    host: HostFiles | None,
) -> EnvironmentConnection:
    before = existing.connection if existing is not None else EnvironmentConnection()
    kubernetes = spec.kind is EnvironmentKind.KUBERNETES
    if kubernetes and spec.endpoint is not None:
        problems.append(Violation(f"{path}.endpoint", "only for docker-standalone and swarm environments "
                                  "(a Kubernetes environment is reached through api_server)"))
    if not kubernetes:
        for name in _KUBERNETES_ONLY:
            if getattr(spec, name) is not None:
                problems.append(Violation(f"{path}.{name}", "only for kubernetes environments"))
    endpoint = _endpoint(spec, path=path, problems=problems) if not kubernetes else None
    api_server = _api_server(spec, path=path, problems=problems) if kubernetes else None
    origin = endpoint or api_server
    moved = before.origin is not None and before.origin != origin
    tls = _tls(spec, path=path, problems=problems, host=host, stored_key=before.tls.client_key_set,
               moved=moved, origin=origin)  # fmt: skip
    token_given = _reference(spec.token, f"{path}.token", problems) if kubernetes else False
    token_set = token_given or (before.token_set and not moved and api_server is not None)
    if kubernetes and spec.tls is not None and api_server is None:
        problems.append(Violation(f"{path}.tls", "TLS applies to the API server: give api_server"))
    if spec.token is not None and api_server is None:
        problems.append(Violation(f"{path}.token", "a token is for the API server: give api_server"))
    if before.token_set and moved and api_server is not None and not token_given:
        problems.append(_moved(f"{path}.token"))
    if endpoint is not None and endpoint.startswith("tcp://"):
        _check_tcp(spec, tls, path=path, problems=problems)
    if api_server is not None and not token_set and not (tls.client_certificate and tls.client_key_set):
        problems.append(Violation(f"{path}.token", "api_server needs a token (env:VAR or file:/path) or a "
                                  "TLS client certificate and key"))
    issuer, jwks = (_issuer_keys(spec, path=path, problems=problems, host=host) if kubernetes
                    else (None, None))  # fmt: skip
    return EnvironmentConnection(
        endpoint=endpoint,
        api_server=api_server,
        tls=tls,
        token_set=token_set,
        service_account_issuer=issuer,
        jwks=jwks,
    )


def _from_kubeconfig(
    spec: EnvironmentSpec,
    kubeconfig: KubeconfigConnection | None,
    *,
    path: str,
    problems: list[Violation],
    host: HostFiles | None,
) -> EnvironmentConnection:
    """The connection a kubeconfig stands for: as if its server, CA, certificate and secrets were given
    as ``api_server``, ``tls`` and ``token``."""
    where = f"{path}.kubeconfig"
    if spec.kind is not EnvironmentKind.KUBERNETES:
        given = "kubeconfig" if spec.kubeconfig is not None else "kubeconfig_context"
        problems.append(Violation(f"{path}.{given}", "only for kubernetes environments"))
        return EnvironmentConnection()
    if spec.kubeconfig is None:
        problems.append(Violation(f"{path}.kubeconfig_context", "a context of what? give kubeconfig"))
        return EnvironmentConnection()
    if spec.endpoint is not None:
        problems.append(Violation(f"{path}.endpoint", "only for docker-standalone and swarm environments"))
    both = [name for name in _KUBECONFIG_FIELDS if getattr(spec, name) is not None]
    if both:
        problems.append(Violation(where, f"give either kubeconfig or {', '.join(both)}, not both (the "
                                  "kubeconfig gives the API server, its CA and the credential)"))  # fmt: skip
        return EnvironmentConnection()
    issuer, jwks = _issuer_keys(spec, path=path, problems=problems, host=host)
    if not _reference(spec.kubeconfig, where, problems) or kubeconfig is None:
        return EnvironmentConnection(service_account_issuer=issuer, jwks=jwks)
    named = f"cluster {kubeconfig.cluster!r} of the kubeconfig (context {kubeconfig.context!r})"
    api_server = _https_server(kubeconfig.server, field=where, problems=problems,
                               what=f"{named}: server {kubeconfig.server!r}")  # fmt: skip
    if kubeconfig.insecure_skip_tls_verify:
        problems.append(Violation(where, f"{named} says insecure-skip-tls-verify: the API server is always "
                                  "verified; give its certificate-authority(-data)"))  # fmt: skip
    return EnvironmentConnection(
        api_server=api_server,
        tls=TlsSettings(
            ca_bundle=kubeconfig.ca_pem,
            client_certificate=kubeconfig.client_certificate,
            client_key_set=kubeconfig.client_key is not None,
        ),
        token_set=kubeconfig.token is not None,
        service_account_issuer=issuer,
        jwks=jwks,
    )


def _moved(field: str) -> Violation:
    return Violation(
        field,
        "the stored secret was entered for another endpoint or API server and is not sent to this one: "
        "give it again (env:VAR or file:/path)",
    )


def _endpoint(spec: EnvironmentSpec, *, path: str, problems: list[Violation]) -> str | None:
    if spec.endpoint is None:
        if spec.tls is not None:
            problems.append(Violation(f"{path}.tls", "TLS applies to a tcp:// endpoint: give endpoint"))
        return None
    value = spec.endpoint.strip()
    parts = urlsplit(value)
    if parts.scheme == "unix":
        if parts.netloc or not parts.path.startswith("/") or parts.query or parts.fragment:
            problems.append(Violation(f"{path}.endpoint", f"{value!r}: write unix:///absolute/path/to.sock"))
            return None
        if spec.tls is not None:
            problems.append(Violation(f"{path}.tls", "TLS applies to a tcp:// endpoint, not a unix socket"))
        return value
    if parts.scheme == "tcp":
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None or parts.path not in ("", "/") or parts.username:
            problems.append(Violation(f"{path}.endpoint", f"{value!r}: write tcp://host:port"))
            return None
        return f"tcp://{parts.netloc}"
    problems.append(Violation(
        f"{path}.endpoint",
        f"{value!r}: the Docker Engine is reached at unix:///path or tcp://host:port"
        + (" (ssh:// is not supported)" if parts.scheme == "ssh" else ""),
    ))
    return None


def _api_server(spec: EnvironmentSpec, *, path: str, problems: list[Violation]) -> str | None:
    if spec.api_server is None:
        return None
    return _https_server(spec.api_server, field=f"{path}.api_server", problems=problems,
                         what=repr(spec.api_server))  # fmt: skip


def _https_server(value: str, *, field: str, problems: list[Violation], what: str) -> str | None:
    """``value`` as ``https://host[:port][/path]``; None and a violation at ``field`` if it is not."""
    parts = urlsplit(value.strip())
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment or parts.username:
        problems.append(Violation(field, f"{what}: write https://host[:port]"))
        return None
    return f"https://{parts.netloc}{parts.path.rstrip('/')}"


def _tls(
    spec: EnvironmentSpec,
    *,
    path: str,
    problems: list[Violation],
    host: HostFiles | None,
    stored_key: bool,
    moved: bool,
    origin: str | None,
) -> TlsSettings:
    if spec.tls is None:
        return TlsSettings()
    t = spec.tls
    where = f"{path}.tls"
    ca = None
    if t.ca_bundle:
        ca = read_pem(t.ca_bundle, path=f"{where}.ca_bundle", problems=problems, host=host)
    cert = (
        read_pem(t.client_certificate, path=f"{where}.client_certificate", problems=problems, host=host)
        if t.client_certificate
        else None
    )
    given = _reference(t.client_key, f"{where}.client_key", problems)
    has_key = given or (stored_key and not moved and t.client_certificate is not None)
    if t.client_certificate and not has_key:
        problems.append(
            _moved(f"{where}.client_key")
            if stored_key and moved
            else Violation(f"{where}.client_key", "a client certificate needs a client key")
        )
    if t.client_key is not None and not t.client_certificate:
        problems.append(Violation(f"{path}.tls.client_key", "a client key needs its client_certificate"))
    if origin is not None and origin.startswith("https://") and t.insecure:
        problems.append(Violation(f"{path}.tls.insecure", "the API server is always verified"))
    return TlsSettings(ca_bundle=ca, client_certificate=cert, client_key_set=has_key, insecure=t.insecure)


def _check_tcp(spec: EnvironmentSpec, tls: TlsSettings, *, path: str, problems: list[Violation]) -> None:
    if tls.insecure:
        return  # allowed on the development tier only (domain.state checks it, whatever changed)
    if not (tls.client_certificate and tls.client_key_set):
        problems.append(Violation(
            f"{path}.tls",
            "a tcp:// endpoint needs TLS with a client certificate and key (the engine's API is root on "
            "its host), or tls.insecure on a development-tier environment",
        ))


def _issuer_keys(
    spec: EnvironmentSpec, *, path: str, problems: list[Violation], host: HostFiles | None
) -> tuple[str | None, str | None]:
    issuer, jwks = spec.service_account_issuer, spec.jwks
    if (issuer is None) != (jwks is None):
        missing = "jwks" if jwks is None else "service_account_issuer"
        problems.append(Violation(f"{path}.{missing}", "service_account_issuer and jwks come together"))
        return None, None
    if issuer is None or jwks is None:
        return None, None
    if not issuer.strip() or len(issuer) > 512:
        problems.append(Violation(f"{path}.service_account_issuer", "must be 1 to 512 characters"))
    text = _jwks_text(jwks, path=f"{path}.jwks", problems=problems, host=host)
    if text is None:
        return issuer, None
    from harbourmaster.deploy.kubernetes.sa_tokens import IssuerKeys, JwksError

    try:
        IssuerKeys.from_jwks(text)
    except JwksError as exc:
        problems.append(Violation(f"{path}.jwks", exc.message))
        return issuer, None
    return issuer, text


def _jwks_text(value: str, *, path: str, problems: list[Violation], host: HostFiles | None) -> str | None:
    if value.lstrip().startswith("{"):
        text: str | None = value
    else:
        text = read_host_text(value.removeprefix("file:"), path=path, problems=problems, host=host,
                              what="JWKS", limit=MAX_JWKS_BYTES)  # fmt: skip
    if text is None:
        return None
    try:
        json.loads(text)
    except ValueError as exc:
        problems.append(Violation(path, f"not JSON: {exc}"))
        return None
    return text
