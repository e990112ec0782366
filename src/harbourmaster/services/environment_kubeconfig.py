"""A Kubernetes environment's connection read from a kubeconfig (``kubeconfig: file:/path`` or
``env:VAR``, with ``kubeconfig_context``), in memory, at apply time: :func:`read_kubeconfig`.

The context's cluster gives the API server and its CA (``certificate-authority-data``, or the
``certificate-authority`` file), its user the bearer token (``token`` or ``tokenFile``) and/or the
client certificate and key (``client-certificate[-data]``, ``client-key[-data]``).  Relative file
paths are read beside a ``file:`` kubeconfig, as kubectl reads them.  Credential plugins (``exec``,
``auth-provider``) and basic auth are refused by name: harbourmaster runs no program to get a token.

Every problem is a violation at the entry's ``kubeconfig`` field naming what is wrong; nothing read
from the file (a token, a key, a line of YAML) is ever in a message.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from harbourmaster.domain.secret import Secret, SecretReferenceError, parse_secret_reference
from harbourmaster.domain.state import Violation
from harbourmaster.services.registry_specs import read_pem
from harbourmaster.vault.interface import UnresolvedSecretError
from harbourmaster.vault.references import HostFiles, resolve_secret_reference

__all__ = ["KubeconfigConnection", "read_kubeconfig"]


@dataclass(frozen=True, slots=True)
class KubeconfigConnection:
    """What one context of a kubeconfig says about reaching its API server (PEM text in memory)."""

    #: The cluster's ``server`` as written (checked like ``api_server`` by the caller).
    server: str
    ca_pem: str | None = None
    insecure_skip_tls_verify: bool = False
    client_certificate: str | None = None
    token: Secret | None = field(default=None, repr=False)
    client_key: Secret | None = field(default=None, repr=False)
    #: The context, cluster and user read (for messages).
    context: str = ""
    cluster: str = ""


class _Refused(Exception):
    """One problem with the kubeconfig (its message is safe to show: no value read from the file)."""


def read_kubeconfig(
    text: Secret,
    *,
    reference: str,
    context: str | None,
    path: str,
    problems: list[Violation],
    host: HostFiles | None,
) -> KubeconfigConnection | None:
    """The connection of kubeconfig ``text`` (read from ``reference``) for ``context`` (default: its
    ``current-context``); None, with a violation at ``path``, when it cannot be used."""
    base = _directory(reference)
    try:
        return _read(text.reveal(), context=context, base=base, path=path, problems=problems, host=host)
    except _Refused as exc:
        problems.append(Violation(path, str(exc)))
        return None


def _directory(reference: str) -> str | None:
    try:
        ref = parse_secret_reference(reference, field="kubeconfig")
    except SecretReferenceError:
        return None
    return os.path.dirname(ref.target) if ref.scheme == "file" else None


def _read(
    text: str,
    *,
    context: str | None,
    base: str | None,
    path: str,
    problems: list[Violation],
    host: HostFiles | None,
) -> KubeconfigConnection | None:
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Only where: the parser's own words may quote the text (a token, a key).
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise _Refused(f"the kubeconfig is not YAML{where} ({type(exc).__name__})") from None
    if not isinstance(config, dict):
        raise _Refused("the kubeconfig is not a mapping (apiVersion: v1, kind: Config)")
    name = context or config.get("current-context")
    if not name:
        raise _Refused("the kubeconfig has no current-context: give kubeconfig_context")
    ctx = _named(config, "contexts", name)
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if not cluster_name or not user_name:
        missing = "cluster" if not cluster_name else "user"
        raise _Refused(f"context {name!r} of the kubeconfig names no {missing}")
    cluster, user = _named(config, "clusters", cluster_name), _named(config, "users", user_name)
    server = cluster.get("server")
    if not isinstance(server, str) or not server.strip():
        raise _Refused(f"cluster {cluster_name!r} of the kubeconfig has no server")
    for plugin, what in (("exec", "an exec credential plugin"), ("auth-provider", "an auth-provider")):
        if user.get(plugin):
            raise _Refused(
                f"user {user_name!r} of the kubeconfig gets its credential from {what} ({plugin}), which "
                "harbourmaster does not run: give the user a token or a client certificate and key (a "
                "service account's token, say), or api_server and token instead of kubeconfig"
            )
    if user.get("username") or user.get("password"):
        raise _Refused(f"user {user_name!r} of the kubeconfig uses basic auth (username/password): "
                       "give it a token or a client certificate and key")  # fmt: skip
    count = len(problems)
    files = _Files(base=base, path=path, problems=problems, host=host)
    where = f"cluster {cluster_name!r}"
    ca = files.pem(cluster, "certificate-authority", where)
    who = f"user {user_name!r}"
    cert = files.pem(user, "client-certificate", who)
    key = files.secret(user, "client-key", who, data=True)
    token = files.secret(user, "tokenFile", who, data=False, inline="token")
    if len(problems) > count:
        return None
    if (cert is None) != (key is None):
        missing = "client-key" if key is None else "client-certificate"
        raise _Refused(f"{who} of the kubeconfig has a client {'certificate' if key is None else 'key'} "
                       f"but no {missing}(-data)")  # fmt: skip
    if token is None and key is None:
        raise _Refused(f"{who} of the kubeconfig has no token and no client certificate and key")
    return KubeconfigConnection(
        server=server.strip(),
        ca_pem=ca,
        insecure_skip_tls_verify=cluster.get("insecure-skip-tls-verify") is True,
        client_certificate=cert,
        token=token,
        client_key=key,
        context=str(name),
        cluster=str(cluster_name),
    )


def _named(config: dict[str, Any], section: str, name: object) -> dict[str, Any]:
    entries = config.get(section) or []
    if not isinstance(entries, list):
        raise _Refused(f"the kubeconfig's {section} is not a list")
    for entry in entries:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(section[:-1]) or {}
            if not isinstance(body, dict):
                raise _Refused(f"{section[:-1]} {name!r} of the kubeconfig is not a mapping")
            return body
    known = sorted(str(e.get("name")) for e in entries if isinstance(e, dict) and e.get("name"))
    shown = f" (it has: {', '.join(known[:10])})" if known else ""
    raise _Refused(f"the kubeconfig has no {section[:-1]} named {name!r}{shown}")


@dataclass(frozen=True, slots=True)
class _Files:
    """Reads a kubeconfig's inline ``*-data`` values and the files it names, on the CLI's host."""

    base: str | None
    path: str
    problems: list[Violation]
    host: HostFiles | None

    def _file(self, entry: dict[str, Any], key: str, who: str) -> str | None:
        value = entry.get(key)
        if not value:
            return None
        name = str(value)
        if not os.path.isabs(name):
            if self.base is None:
                raise _Refused(f"{who}'s {key} {name!r} is relative: write an absolute path (a kubeconfig "
                               "given as env:VAR has no directory to read it from)")  # fmt: skip
            name = os.path.join(self.base, name)
        return name

    def pem(self, entry: dict[str, Any], key: str, who: str) -> str | None:
        data = entry.get(f"{key}-data")
        if data:
            text = _decoded(data, f"{who}'s {key}-data")
            if "-----BEGIN" not in text:
                raise _Refused(f"{who}'s {key}-data is not PEM")
            return text
        name = self._file(entry, key, who)
        if name is None:
            return None
        return read_pem(name, path=self.path, problems=self.problems, host=self.host)

    def secret(
        self, entry: dict[str, Any], key: str, who: str, *, data: bool, inline: str | None = None
    ) -> Secret | None:
        if data and entry.get(f"{key}-data"):
            return Secret(_decoded(entry[f"{key}-data"], f"{who}'s {key}-data"))
        if inline is not None and entry.get(inline):
            value = entry[inline]
            if not isinstance(value, str):
                raise _Refused(f"{who}'s {inline} is not a string")
            return Secret(value.strip())
        name = self._file(entry, key, who)
        if name is None:
            return None
        try:
            return resolve_secret_reference(f"file:{name}", field=self.path, guard=self.host)
        except (UnresolvedSecretError, SecretReferenceError) as exc:
            message = exc.message.removeprefix(f"{self.path}: ")
            self.problems.append(Violation(self.path, f"{who}'s {key}: {message}"))
            return None


def _decoded(value: object, what: str) -> str:
    try:
        return base64.b64decode(str(value), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _Refused(f"{what} is not base64 (of PEM text)") from None
