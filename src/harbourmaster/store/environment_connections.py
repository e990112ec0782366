"""The environments' connections in ``meta``: what is stored of each (no secret), their sealed
secrets, and how the model reads them back (:func:`connection_of`)."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import cast

from sqlalchemy.orm import Session

from harbourmaster.domain.model import EnvironmentConnection, TlsSettings
from harbourmaster.domain.state import GovernanceState
from harbourmaster.store.meta import get_meta, set_meta
from harbourmaster.store.values import SealedUpdates

__all__ = [
    "CONNECTIONS_META",
    "connection_document",
    "connection_of",
    "connections",
    "environment_secrets",
    "save_connections",
    "save_environment_secrets",
]
#: The ``meta`` rows of the environments' connections: ``{environment: {field: value}}`` without
#: secrets, and ``{environment: {field: base64 of the sealed secret}}`` (a handful of environments).
CONNECTIONS_META = "environment_connections"
_CONNECTION_SECRETS_META = "environment_secrets"


def connection_document(connection: EnvironmentConnection) -> dict[str, object]:
    """What is stored of a connection (everything but its secrets and their flags)."""
    values = {
        "endpoint": connection.endpoint,
        "api_server": connection.api_server,
        "ca_bundle": connection.tls.ca_bundle,
        "client_certificate": connection.tls.client_certificate,
        "insecure": connection.tls.insecure or None,
        "service_account_issuer": connection.service_account_issuer,
        "jwks": connection.jwks,
    }
    return {key: value for key, value in values.items() if value is not None}


def environment_secrets(session: Session) -> dict[str, dict[str, bytes]]:
    value = get_meta(session, _CONNECTION_SECRETS_META) or {}
    return {
        str(name): {str(f): base64.b64decode(str(blob)) for f, blob in cast(dict[str, str], fields).items()}
        for name, fields in value.items()
    }


def save_environment_secrets(session: Session, secrets: Mapping[str, Mapping[str, bytes]]) -> None:
    set_meta(session, _CONNECTION_SECRETS_META, {
        name: {f: base64.b64encode(blob).decode("ascii") for f, blob in sorted(fields.items())}
        for name, fields in sorted(secrets.items()) if fields
    })  # fmt: skip


def save_connections(session: Session, new: GovernanceState, sealed: SealedUpdates) -> None:
    """The environments' connections, and their sealed secrets: a secret the new state no longer
    sets (or of a removed environment) goes; ``sealed`` brings new ones."""
    set_meta(session, CONNECTIONS_META, {
        e.name: connection_document(e.connection) for e in new.environments if e.connection.configured
    })  # fmt: skip
    wanted = {e.name: e.connection for e in new.environments}
    secrets = environment_secrets(session)
    kept: dict[str, dict[str, bytes]] = {}
    for name, fields in secrets.items():
        connection = wanted.get(name)
        if connection is not None:
            kept[name] = {f: blob for f, blob in fields.items() if connection.secret_set(f)}
    for (name, field_name), blob in sealed.environment_secrets.items():
        if name not in wanted:
            continue
        if blob is None:
            kept.get(name, {}).pop(field_name, None)
        else:
            kept.setdefault(name, {})[field_name] = blob
    if kept != secrets:
        save_environment_secrets(session, kept)


def connections(session: Session) -> dict[str, dict[str, object]]:
    value = get_meta(session, CONNECTIONS_META) or {}
    return {str(name): dict(cast(dict[str, object], fields)) for name, fields in value.items()}


def connection_of(stored: Mapping[str, object] | None, secrets: Mapping[str, bytes]) -> EnvironmentConnection:
    """The connection stored as ``stored`` (None: none), with the secrets held for it."""
    if not stored and not secrets:
        return EnvironmentConnection()
    stored = stored or {}

    def text(key: str) -> str | None:
        value = stored.get(key)
        return str(value) if value is not None else None

    return EnvironmentConnection(
        endpoint=text("endpoint"),
        api_server=text("api_server"),
        tls=TlsSettings(
            ca_bundle=text("ca_bundle"),
            client_certificate=text("client_certificate"),
            client_key_set="client_key" in secrets,
            insecure=bool(stored.get("insecure", False)),
        ),
        token_set="token" in secrets,
        service_account_issuer=text("service_account_issuer"),
        jwks=text("jwks"),
    )
