"""A registry as a document describes it, checked and turned into the domain's :class:`Registry`.

Both ways a registry arrives: an entry of the governance document
(:func:`registry_from_spec`, for ``apply``), and a create or update request's
fields merged over the stored registry (:func:`merged_registry`, for the API's
and CLI's registry changes).  Problems are collected as violations naming the
field, so one apply reports every one of them.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from harbourmaster.domain.harbor_management import OWN_ROBOTS, HarborManagement, RobotSpec
from harbourmaster.domain.matching import LocationError, parse_registry_location
from harbourmaster.domain.model import CredentialInfo, Provider, Registry, TlsSettings
from harbourmaster.domain.secret import Secret, SecretReferenceError, parse_secret_reference
from harbourmaster.domain.state import StateInvalid, Violation
from harbourmaster.errors import BadInput, Conflict, NotFound
from harbourmaster.services.document import PROVIDER_FIELDS, ManagementSpec, RegistrySpec
from harbourmaster.services.export import registry_document
from harbourmaster.vault.interface import UnresolvedSecretError
from harbourmaster.vault.references import HostFiles, read_host_file

__all__ = ["merged_registry", "read_host_text", "read_pem", "registry_from_spec"]


def read_host_text(
    value: str,
    *,
    path: str,
    problems: list[Violation],
    host: HostFiles | None,
    what: str,
    limit: int | None = None,
) -> str | None:
    """The UTF-8 text of the file ``value`` names, read through ``host`` (the CLI's own host only); None
    and a violation at ``path`` when there is no host (the API) or the file cannot be read."""
    if host is None:
        problems.append(
            Violation(path, f"give the {what} text itself; file paths are read only by the CLI on its host")
        )
        return None
    try:
        raw = read_host_file(value, field=path, guard=host, what=f"{what} file",
                             **({"limit": limit} if limit is not None else {}))  # fmt: skip
        return raw.decode("utf-8")
    except UnresolvedSecretError as exc:
        problems.append(Violation(path, exc.message.removeprefix(f"{path}: ")))
    except UnicodeDecodeError:
        problems.append(Violation(path, f"{what} file {value} is not UTF-8 text"))
    return None


def read_pem(value: str, *, path: str, problems: list[Violation], host: HostFiles | None) -> str | None:
    """PEM text given inline, or (CLI only: ``host``) read from the file ``value`` names; None and a
    violation at ``path`` when it is neither."""
    if "-----BEGIN" in value:
        return value
    text = read_host_text(value, path=path, problems=problems, host=host, what="PEM")
    if text is None:
        return None
    if "-----BEGIN" not in text:
        problems.append(Violation(path, f"{value} is not a PEM file"))
        return None
    return text


def registry_from_spec(
    spec: RegistrySpec,
    *,
    path: str,
    problems: list[Violation],
    secret_set: bool,
    client_key_set: bool,
    host: HostFiles | None = None,
) -> Registry | None:
    """The registry a spec describes; problems are appended to ``problems`` (None when unusable).

    PEM values given as file paths are read through ``host`` (the CLI's own
    host); without it only PEM text is accepted.

    ``secret_set`` and ``client_key_set`` say whether a secret will be stored
    after the change (a new reference, or the one already stored).
    """
    try:
        location = parse_registry_location(spec.url, spec.scope, field=f"{path}.url")
    except LocationError as exc:
        problems.append(Violation(f"{path}.url", exc.message))
        return None
    fields: dict[str, str] = {}
    for name, providers in PROVIDER_FIELDS.items():
        value = getattr(spec, name)
        if value is None:
            continue
        if spec.provider not in providers:
            problems.append(
                Violation(
                    f"{path}.{name}", f"only for provider(s) {', '.join(sorted(p.value for p in providers))}"
                )
            )
        fields[name] = value
    if spec.provider is Provider.DOCKERHUB_ANONYMOUS:
        problems.append(
            Violation(
                f"{path}.provider",
                "dockerhub-anonymous is built in; use provider: dockerhub with a credential instead",
            )
        )
    credential = None
    if spec.credential is not None:
        if spec.credential.secret is not None:
            try:
                parse_secret_reference(spec.credential.secret, field=f"{path}.credential.secret")
            except SecretReferenceError as exc:
                problems.append(Violation(f"{path}.credential.secret", exc.message))
        elif not secret_set:
            problems.append(
                Violation(
                    f"{path}.credential.secret",
                    "required: the registry has no stored secret yet (reference it as env:VAR or file:/path)",
                )
            )
        credential = CredentialInfo(
            spec.credential.kind, spec.credential.username, spec.credential.expires, secret_set=True
        )
    tls = TlsSettings()
    if spec.tls is not None:
        ca = (
            read_pem(spec.tls.ca_bundle, path=f"{path}.tls.ca_bundle", problems=problems, host=host)
            if spec.tls.ca_bundle
            else None
        )
        cert = (
            read_pem(
                spec.tls.client_certificate,
                path=f"{path}.tls.client_certificate",
                problems=problems,
                host=host,
            )
            if spec.tls.client_certificate
            else None
        )
        if spec.tls.client_key is not None:
            try:
                parse_secret_reference(spec.tls.client_key, field=f"{path}.tls.client_key")
            except SecretReferenceError as exc:
                problems.append(Violation(f"{path}.tls.client_key", exc.message))
        has_key = spec.tls.client_key is not None or client_key_set
        if cert is not None and not has_key:
            problems.append(Violation(f"{path}.tls.client_key", "a client certificate needs a client key"))
        tls = TlsSettings(
            ca_bundle=ca, client_certificate=cert, client_key_set=has_key, insecure=spec.tls.insecure
        )
    return Registry(
        name=spec.name,
        provider=spec.provider,
        url=spec.url,
        location=location,
        oci_artifacts=spec.oci_artifacts,
        provider_fields=tuple(sorted(fields.items())),
        tls=tls,
        credential=credential,
        declared_public=spec.public,
        management=_management(spec, path=path, problems=problems),
    )


def _management(spec: RegistrySpec, *, path: str, problems: list[Violation]) -> HarborManagement | None:
    """The Harbor management a spec asks for (None: not managed); problems name their field."""
    if not spec.manage:
        if spec.management is not None:
            problems.append(Violation(f"{path}.management", "only with manage: true"))
        return None
    if spec.provider is not Provider.HARBOR:
        problems.append(Violation(f"{path}.manage", "only a provider: harbor registry can be managed"))
        return None
    if not spec.scope:
        problems.append(
            Violation(f"{path}.scope", "required with manage: true: the Harbor project harbourmaster manages")
        )
    if spec.credential is None:
        problems.append(
            Violation(
                f"{path}.credential",
                "required with manage: true: a Harbor administrator or project administrator for its API",
            )
        )
    m = spec.management or ManagementSpec()
    robots: list[RobotSpec] = []
    for i, r in enumerate(m.robots):
        if r.name in OWN_ROBOTS or r.name in {x.name for x in robots}:
            taken = f"{r.name} is taken (by harbourmaster or another robot of this registry)"
            problems.append(Violation(f"{path}.management.robots[{i}].name", taken))
            continue
        lifetime = r.lifetime_days if r.lifetime_days is not None else m.robot_lifetime_days
        if lifetime == 0:
            where = f"{path}.management.robots[{i}].lifetime_days"
            problems.append(Violation(where, "must be -1 or positive"))
        robots.append(RobotSpec(r.name, r.access, None if lifetime == -1 else lifetime, r.description))
    if m.robot_lifetime_days == 0:
        problems.append(Violation(f"{path}.management.robot_lifetime_days", "must be -1 or positive"))
    return HarborManagement(
        robot_lifetime_days=None if m.robot_lifetime_days == -1 else m.robot_lifetime_days,
        rotate_at=m.rotate_at,
        alert_days=m.alert_days,
        robots=tuple(robots),
    )


def merged_registry(
    existing: Registry | None,
    *,
    name: str,
    fields: dict[str, Any],
    create: bool,
    secret: Secret | None,
    client_key: Secret | None,
) -> Registry:
    """``existing`` (None: none yet) with ``fields`` applied, checked against the registry's own rules.

    Raises:
        Conflict / NotFound: creating one that exists / updating one that does not.
        BadInput: ``existing`` is built in.
        StateInvalid: the merged registry breaks one of its rules.
    """
    if create and existing is not None:
        raise Conflict(f"registry {name} already exists")
    if not create and existing is None:
        raise NotFound(f"registry {name} is not defined")
    if existing is not None and existing.builtin:
        raise BadInput(f"registry {name} is built in; hide it with 'registry hide-anonymous' instead")
    base = registry_document(existing) if existing is not None else {}
    merged = {**base, **{k: v for k, v in fields.items() if k != "name"}, "name": name}
    if "credential" in fields and fields["credential"] is not None and base.get("credential"):
        merged["credential"] = {**base["credential"], **fields["credential"]}
    problems: list[Violation] = []
    try:
        spec = RegistrySpec.model_validate(merged)
    except ValidationError as exc:
        raise StateInvalid(
            [
                Violation(f"registry {name}." + ".".join(str(p) for p in e["loc"]), e["msg"])
                for e in exc.errors(include_url=False)
            ]
        ) from None
    had_secret = bool(existing and existing.credential and existing.credential.secret_set)
    had_key = bool(existing and existing.tls.client_key_set)
    reg = registry_from_spec(
        spec,
        path=f"registry {name}",
        problems=problems,
        secret_set=had_secret or secret is not None,
        client_key_set=had_key or client_key is not None,
    )
    if problems or reg is None:
        raise StateInvalid(problems)
    return reg
