"""The declarative governance document (``kind: Governance``): schema and conversion.

Parsing collects *every* problem with its path in the document
(``registries[2].url: ...``) before anything is written.  Secrets are never
inline: they are references (``env:VAR``, ``file:/path``) resolved at apply
time, and export omits them (applying a credential without ``secret`` keeps
the stored one).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harbourmaster.domain.matching import LocationError, parse_registry_location
from harbourmaster.domain.model import (
    CredentialInfo,
    CredentialKind,
    EnvironmentKind,
    Provider,
    Registry,
    Role,
    Tier,
    TlsSettings,
)
from harbourmaster.domain.secret import SecretReferenceError, parse_secret_reference
from harbourmaster.domain.state import Violation
from harbourmaster.errors import BadInput
from harbourmaster.vault.interface import UnresolvedSecretError
from harbourmaster.vault.references import HostFiles, read_host_file

__all__ = [
    "API_VERSION",
    "DocumentInvalid",
    "GovernanceDocument",
    "ProviderFieldsSpec",
    "RegistrySpec",
    "parse_document",
    "registry_from_spec",
]

API_VERSION = "harbourmaster.io/v1"
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024

#: Provider-specific, non-secret fields and the providers they belong to.
PROVIDER_FIELDS: dict[str, frozenset[Provider]] = {
    "region": frozenset({Provider.ECR}),
    "account": frozenset({Provider.ECR}),
    "instance": frozenset({Provider.GITLAB}),
    "project": frozenset({Provider.GITLAB, Provider.GAR}),
    "organisation": frozenset({Provider.QUAY, Provider.GHCR}),
    "feed_url": frozenset({Provider.PROGET}),
    "tenant": frozenset({Provider.ACR}),
}


class DocumentInvalid(BadInput):
    """The governance document has problems; ``details`` lists each with its path."""

    def __init__(self, source: str, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__(
            f"{source}: {len(violations)} problem(s); nothing was written",
            details=[str(v) for v in violations],
        )


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CredentialSpec(_Spec):
    kind: CredentialKind = CredentialKind.USER
    username: str = Field(min_length=1, max_length=255)
    #: A reference (env:VAR or file:/path); omitted: keep the stored secret.
    secret: str | None = None
    expires: dt.date | None = None


class TlsSpec(_Spec):
    #: A CA bundle: a path to a PEM file, read at apply time, or PEM text.
    ca_bundle: str | None = None
    client_certificate: str | None = None
    #: A reference to the client key (env:VAR or file:/path).
    client_key: str | None = None
    insecure: bool = False


class ProviderFieldsSpec(BaseModel):
    """Provider-specific, non-secret registry fields (see :data:`PROVIDER_FIELDS`); shared with the API."""

    region: str | None = None
    account: str | None = None
    instance: str | None = None
    project: str | None = None
    organisation: str | None = None
    feed_url: str | None = None
    tenant: str | None = None


class RegistrySpec(_Spec, ProviderFieldsSpec):
    name: str
    provider: Provider
    url: str
    scope: str | None = None
    public: bool = False
    oci_artifacts: bool = False
    credential: CredentialSpec | None = None
    tls: TlsSpec | None = None


class EnvironmentSpec(_Spec):
    name: str
    kind: EnvironmentKind
    tier: Tier
    group: str | None = None
    namespaces: list[str] = Field(default_factory=list)
    hide_dockerhub_anonymous: bool = False


class UserSpec(_Spec):
    name: str
    role: Role = Role.TEAM_MEMBER


class TeamSpec(_Spec):
    name: str
    members: list[str] = Field(default_factory=list)


class AccessSpec(_Spec):
    environment: str
    team: str | None = None
    user: str | None = None
    role: Role = Role.TEAM_MEMBER


class GrantSpec(_Spec):
    registry: str
    environment: str
    namespaces: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)


class TierSpec(_Spec):
    block_severity: str | None = None
    advisory_severity: str | None = None
    require_signature: bool | None = None
    ignore_unfixed: bool | None = None


class AllowlistSpec(_Spec):
    id: str
    expires: dt.date
    reason: str
    #: Only for images from this registry; omitted: system-wide.
    registry: str | None = None


class SettingsSpec(_Spec):
    hide_dockerhub_anonymous: bool = False


class KindSelectorSpec(_Spec):
    """A Kubernetes kind: ``apiVersion`` exactly, or ``group/*`` for any version of the group."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    api_version: str = Field(alias="apiVersion")
    kind: str


class ContentSpec(_Spec):
    #: Kinds whose objects are not denied as "not understood" (their images are still checked).
    ignore_kinds: list[KindSelectorSpec] = Field(default_factory=list)


class GovernanceDocument(_Spec):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    api_version: Literal["harbourmaster.io/v1"] = Field(alias="apiVersion")
    kind: Literal["Governance"]
    registries: list[RegistrySpec] = Field(default_factory=list)
    environments: list[EnvironmentSpec] = Field(default_factory=list)
    users: list[UserSpec] = Field(default_factory=list)
    teams: list[TeamSpec] = Field(default_factory=list)
    access: list[AccessSpec] = Field(default_factory=list)
    grants: list[GrantSpec] = Field(default_factory=list)
    tiers: dict[Tier, TierSpec] = Field(default_factory=dict)
    settings: SettingsSpec = Field(default_factory=SettingsSpec)
    #: Accepted vulnerabilities, each with an expiry.
    allowlist: list[AllowlistSpec] = Field(default_factory=list)
    #: How deployment content is read; replaced as a whole by each apply.
    content: ContentSpec = Field(default_factory=ContentSpec)


def _loc(parts: tuple[int | str, ...]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(document)"


def parse_document(text: str, *, source: str) -> GovernanceDocument:
    """Parse a governance document.

    Raises:
        DocumentInvalid: the YAML is malformed or the document does not fit
            the schema; every problem is listed with its path.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise DocumentInvalid(source, [Violation("(document)", f"larger than {MAX_DOCUMENT_BYTES} bytes")])
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(document)"
        problem = getattr(exc, "problem", None) or str(exc)
        raise DocumentInvalid(source, [Violation(where, f"invalid YAML: {problem}")]) from None
    if not isinstance(raw, dict):
        raise DocumentInvalid(
            source,
            [
                Violation(
                    "(document)", f"expected a mapping with apiVersion: {API_VERSION} and kind: Governance"
                )
            ],
        )
    try:
        return GovernanceDocument.model_validate(raw)
    except ValidationError as exc:
        violations = [
            Violation(
                _loc(tuple(e["loc"])[:-1] if e["type"] == "extra_forbidden" else tuple(e["loc"])),
                _clean_message(e),
            )
            for e in exc.errors(include_url=False)
        ]
        raise DocumentInvalid(source, violations) from None


def _clean_message(error: Any) -> str:
    """Pydantic's message without the input: a value in the wrong place may be a pasted secret."""
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        # The unknown key is not repeated either, for the same reason.
        return "has a field that is not part of the schema"
    if kind == "missing":
        return "required field is missing"
    return str(error.get("msg", "invalid"))


def _read_pem(value: str, *, path: str, problems: list[Violation], host: HostFiles | None) -> str | None:
    if "-----BEGIN" in value:
        return value
    if host is None:
        problems.append(
            Violation(path, "give the PEM text itself; file paths are read only by the CLI on its own host")
        )
        return None
    try:
        text = read_host_file(value, field=path, guard=host, what="PEM file").decode("utf-8")
    except UnresolvedSecretError as exc:
        problems.append(Violation(path, exc.message.removeprefix(f"{path}: ")))
        return None
    except UnicodeDecodeError:
        problems.append(Violation(path, f"PEM file {value} is not UTF-8 text"))
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
            _read_pem(spec.tls.ca_bundle, path=f"{path}.tls.ca_bundle", problems=problems, host=host)
            if spec.tls.ca_bundle
            else None
        )
        cert = (
            _read_pem(
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
    )
