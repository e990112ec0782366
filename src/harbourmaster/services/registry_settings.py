"""A registry's stored, non-secret settings as an editor shows them: the same fields the governance
document and ``registry export`` write (a CA bundle and client certificate as PEM text), never a secret:
the credential's secret and the TLS client key stay in the vault, and are only replaced."""

from __future__ import annotations

from typing import Any

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.errors import BadInput
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.export import registry_document
from harbourmaster.services.registry_scope import named_registry

__all__ = ["registry_settings"]


def registry_settings(hm: Harbourmaster, principal: Principal, name: str) -> dict[str, Any]:
    """Registry ``name``'s settings as a document (no secret in it), for someone who may change them.

    Raises:
        Forbidden: ``principal`` may not change the governance model.
        NotFound: no such registry.
        BadInput: it is built in (it has no settings to edit; hide it instead).
    """
    require(principal, Permission.GOVERNANCE_WRITE)
    reg = named_registry(hm, name)
    if reg.builtin:
        raise BadInput(f"registry {name} is built in and cannot be edited; hide it instead")
    return registry_document(reg)
