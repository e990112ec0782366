"""Secrets stay with the origin they were entered for.

A registry's credential and TLS client key are bound to its
:attr:`~harbourmaster.domain.model.Registry.credential_origin` (host, port,
scheme, scope, provider fields and TLS trust).  When a change moves a registry
to another origin without supplying a new secret in the same change, the
stored secret is dropped: it must be entered again for the new origin.  The
vault enforces the same binding cryptographically; this module makes the
model say so, so the change is visible in the diff and the audit log.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from harbourmaster.domain.model import Registry, TlsSettings
from harbourmaster.domain.state import GovernanceState

__all__ = ["DroppedSecrets", "drop_moved_secrets"]


@dataclass(frozen=True, slots=True)
class DroppedSecrets:
    """The model after the drop, and the registries whose credential / client key was dropped."""

    state: GovernanceState
    credentials: tuple[str, ...] = ()
    client_keys: tuple[str, ...] = ()

    def describe(self) -> list[str]:
        why = "(origin changed; enter it again)"
        lines = [f"~ registry {n}: stored secret dropped {why}" for n in self.credentials]
        lines += [f"~ registry {n}: stored client key dropped {why}" for n in self.client_keys]
        return lines


def drop_moved_secrets(
    old: GovernanceState,
    new: GovernanceState,
    *,
    new_credentials: Collection[str],
    new_client_keys: Collection[str],
) -> DroppedSecrets:
    """Drop the stored secrets of registries whose origin changes from ``old`` to ``new``.

    ``new_credentials`` / ``new_client_keys`` name the registries given a new
    secret in this same change: theirs are kept (they are sealed for the new
    origin).
    """
    before = {r.name: r for r in old.registries}
    credentials: list[str] = []
    client_keys: list[str] = []
    registries: list[Registry] = []
    for reg in new.registries:
        prior = before.get(reg.name)
        if prior is None or prior.credential_origin == reg.credential_origin:
            registries.append(reg)
            continue
        cred = reg.credential
        if cred is not None and cred.secret_set and reg.name not in new_credentials:
            cred = replace(cred, secret_set=False)
            credentials.append(reg.name)
        tls: TlsSettings = reg.tls
        if tls.client_key_set and reg.name not in new_client_keys:
            tls = replace(tls, client_key_set=False)
            client_keys.append(reg.name)
        registries.append(replace(reg, credential=cred, tls=tls))
    if not credentials and not client_keys:
        return DroppedSecrets(new)
    return DroppedSecrets(
        replace(new, registries=tuple(registries)), tuple(sorted(credentials)), tuple(sorted(client_keys))
    )
