"""A change to the governance model as one principal makes it: the permission check, then the change.

The building blocks of :mod:`harbourmaster.services.governance`: every change
there goes through :func:`write_change`, which checks the caller's permission
and hands the change to :meth:`Harbourmaster.change` (validated against every
rule, written with its audit record in one transaction); creating, updating or
deleting a named object reads whether it exists inside that transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.state import GovernanceState
from harbourmaster.errors import Conflict, NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.results import ChangePublic
from harbourmaster.store.interface import GovernanceRepository
from harbourmaster.store.values import SealedUpdates

__all__ = ["put_named", "require_existing", "write_change"]


def write_change(
    hm: Harbourmaster,
    principal: Principal,
    *,
    permission: Permission = Permission.GOVERNANCE_WRITE,
    action: str | Callable[[GovernanceState], str],
    target: str,
    mutate: Callable[[GovernanceState], GovernanceState],
    sealed: Callable[[GovernanceRepository, GovernanceState, GovernanceState], SealedUpdates] | None = None,
) -> ChangePublic:
    """Check ``principal`` holds ``permission``, then make the change (see :meth:`Harbourmaster.change`).

    Raises:
        Forbidden: ``principal`` lacks ``permission``.
        StateInvalid: the changed model breaks a rule.
    """
    require(principal, permission)
    change = hm.change(actor=principal.name, action=action, target=target, mutate=mutate, sealed=sealed)
    return ChangePublic.model_validate(change)


def put_named(
    hm: Harbourmaster,
    principal: Principal,
    *,
    kind: str,
    attr: str,
    obj: Any,
    create: bool | None,
    permission: Permission = Permission.GOVERNANCE_WRITE,
) -> ChangePublic:
    """Create (``create``), update (not ``create``) or either (``None``: whichever the stored model needs).

    Whether the object exists is read inside the write transaction: a concurrent create may have won.
    """

    def exists(state: GovernanceState) -> bool:
        return obj.name in {o.name for o in getattr(state, attr)}

    def action(state: GovernanceState) -> str:
        creating = not exists(state) if create is None else create
        return f"{kind}.{'create' if creating else 'update'}"

    def mutate(state: GovernanceState) -> GovernanceState:
        present = exists(state)
        if create is True and present:
            raise Conflict(f"{kind} {obj.name} already exists")
        if create is False and not present:
            raise NotFound(f"{kind} {obj.name} is not defined")
        return state.evolve(**{attr: (*[o for o in getattr(state, attr) if o.name != obj.name], obj)})

    return write_change(hm, principal, permission=permission, action=action, target=obj.name, mutate=mutate)


def require_existing(state: GovernanceState, kind: str, attr: str, name: str) -> GovernanceState:
    """``state``, once ``name`` is known to be one of its ``attr`` (read in the write's transaction)."""
    if name not in {o.name for o in getattr(state, attr)}:
        raise NotFound(f"{kind} {name} is not defined")
    return state
