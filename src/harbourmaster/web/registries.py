"""Registries: the list with each one's credential state, and "test connection"."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Final

from anyio import to_thread
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from harbourmaster.domain.authz import Permission
from harbourmaster.services import governance_reads, registry_probe
from harbourmaster.services.credentials import expiring_credentials
from harbourmaster.services.results import ExpiringCredentialPublic, RegistryPublic
from harbourmaster.web.access import Acting, acting, core, viewing
from harbourmaster.web.pages import REGISTRIES, Viewer, render
from harbourmaster.web.route import UiRoute

__all__ = ["EXPIRY_NOTICE", "PAGE_SIZE", "TEST_PERMISSION", "CredentialState", "credential_state", "matches",
           "router"]

#: A credential that expires within this long is shown as "expiring in N days".
EXPIRY_NOTICE: Final = dt.timedelta(days=30)
#: Registries per page of the list, by default and at most.
PAGE_SIZE: Final = 50
MAX_PAGE: Final = 500
#: "Test connection" uses the stored credential against the whole registry.
TEST_PERMISSION: Final = Permission.REGISTRY_PROBE

router = APIRouter(route_class=UiRoute, include_in_schema=False)


@dataclass(frozen=True, slots=True)
class CredentialState:
    #: none | set | expiring | expired
    kind: str
    text: str


def credential_state(reg: RegistryPublic, expiring: dict[tuple[str, str], ExpiringCredentialPublic]
                     ) -> CredentialState:
    """How a registry's stored credential stands, in words: never its value."""
    cred = reg.credential
    if cred is None or not cred.secret_set:
        return CredentialState("none", "none")
    if cred.expired:
        return CredentialState("expired", f"expired {cred.expires}" if cred.expires else "expired")
    soon = expiring.get((reg.name, cred.username))
    if soon is not None and not soon.expired:
        days = soon.days_left
        return CredentialState("expiring", "expires today" if days == 0 else
                               f"expiring in {days} day{'s' if days != 1 else ''}")
    return CredentialState("set", "set")


def matches(reg: RegistryPublic, words: str) -> bool:
    """Whether every word of the filter is in the registry's name, provider, host or scope."""
    text = f"{reg.name} {reg.provider} {reg.host} {reg.scope or ''}".lower()
    return all(word in text for word in words.lower().split())


@router.get(REGISTRIES.path)
def registries_page(request: Request, viewer: Annotated[Viewer, Depends(viewing(REGISTRIES.permission))],
                    q: Annotated[str, Query(max_length=256)] = "",
                    page: Annotated[int, Query(ge=1)] = 1,
                    size: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE_SIZE) -> Response:
    hm, principal = core(request), viewer.principal
    assert principal is not None
    registries = governance_reads.list_registries(hm, principal)
    chosen = [reg for reg in registries if matches(reg, q)] if q.strip() else registries
    pages = max(1, -(-len(chosen) // size))
    page = min(page, pages)
    shown = chosen[(page - 1) * size : page * size]
    # The registries' own credentials among those due (a managed registry's robots are listed too).
    due = {(c.registry, c.username): c for c in expiring_credentials(hm, principal, within=EXPIRY_NOTICE)}
    tested = registry_probe.last_tests(hm, principal)
    rows = [(reg, credential_state(reg, due), tested.get(reg.name)) for reg in shown]
    kept = {k: v for k, v in (("q", q.strip()), ("size", str(size) if size != PAGE_SIZE else "")) if v}
    return render(request, viewer, "registries.html", {
        "page": REGISTRIES, "rows": rows, "test_permission": TEST_PERMISSION, "q": q, "size": size,
        "number": page, "pages": pages, "total": len(registries), "matching": len(chosen), "kept": kept,
    })


@router.post(REGISTRIES.path + "/{name}/test")
async def test_connection(request: Request, name: str,
                          act: Annotated[Acting, Depends(acting(TEST_PERMISSION))]) -> Response:
    principal = act.viewer.principal
    assert principal is not None
    report = await to_thread.run_sync(lambda: registry_probe.test_registry(core(request), principal, name))
    return render(request, act.viewer, "registry_test.html", {"page": REGISTRIES, "report": report,
                                                              "name": name})
