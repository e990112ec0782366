"""An environment's grants and access, changed from its page: grant a registry to a namespace
(Kubernetes) or to a user or team (docker-standalone, swarm), revoke a grant, add or remove an access entry.

Each form calls the service the API's ``/grants`` and ``/access`` routes call, with the same permission;
a refusal is shown on the environment's page beside the form, with the rules' own messages (422),
and nothing is changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.model import AccessEntry, RegistryGrant, Role
from harbourmaster.errors import BadInput, Conflict, NotFound
from harbourmaster.services import governance, governance_reads
from harbourmaster.services.core import Harbourmaster
from harbourmaster.web.access import Acting, Form, acting, core
from harbourmaster.web.pages import ENVIRONMENTS, Viewer, render
from harbourmaster.web.registry_forms import FormProblems, problems_of
from harbourmaster.web.route import UiRoute
from harbourmaster.web.sessions import CSRF_FIELD

__all__ = ["GRANT_PERMISSION", "environment_context", "router"]

#: Grants and access entries are changes to the governance model: what the API's routes require.
GRANT_PERMISSION: Final = Permission.GOVERNANCE_WRITE

router = APIRouter(route_class=UiRoute, include_in_schema=False)


def environment_context(hm: Harbourmaster, viewer: Viewer, name: str, *,
                        grant_problems: FormProblems | None = None,
                        access_problems: FormProblems | None = None,
                        values: Mapping[str, str] | None = None,
                        changed: str | None = None) -> dict[str, Any]:
    """What an environment's page shows: the environment, its access and grants, and (for a viewer who
    may change them) the choices of its forms.

    Raises:
        Forbidden: the viewer may not read governance data.  NotFound: no such environment.
    """
    principal = viewer.principal
    assert principal is not None
    env = governance_reads.environment(hm, principal, name)  # NotFound names the closest
    context: dict[str, Any] = {
        "page": ENVIRONMENTS, "environment": env,
        "grants": governance_reads.environment_grants(hm, principal, env.name),
        "access": [a for a in governance_reads.list_access(hm, principal) if a.environment == env.name],
        "grant_permission": GRANT_PERMISSION, "grant_problems": grant_problems or FormProblems(),
        "access_problems": access_problems or FormProblems(), "values": values or {},
        "registry_names": [], "users": [], "teams": [], "roles": [r.value for r in Role],
        "changed": changed if changed in ("grants", "access") else None,
    }
    if viewer.can(GRANT_PERMISSION):
        names = governance_reads.model_names(hm, principal)
        context.update(registry_names=names.registries, users=names.users, teams=names.teams)
    return context


def _grantee(form: Form) -> dict[str, str | None]:
    """The form's ``grantee`` (``user:NAME`` or ``team:NAME``) as the body's ``user``/``team`` fields;
    none chosen is neither (the rules say what is missing).

    Raises:
        BadInput: the choice is neither ``user:NAME`` nor ``team:NAME``.
    """
    chosen = form.get("grantee").strip()
    if not chosen:
        return {"user": None, "team": None}
    kind, _, who = chosen.partition(":")
    if kind not in ("user", "team") or not who:
        raise BadInput(f"{chosen!r} is neither user:NAME nor team:NAME")
    return {"user": who if kind == "user" else None, "team": who if kind == "team" else None}


def _grant(form: Form, environment: str) -> RegistryGrant:
    registry = form.get("registry").strip()
    if not registry:
        raise BadInput("choose a registry")
    namespace = form.get("namespace").strip() or None
    who = {"user": None, "team": None} if namespace is not None else _grantee(form)
    return RegistryGrant(registry=registry, environment=environment, namespace=namespace, **who)


def _access(form: Form, environment: str) -> AccessEntry:
    try:
        role = Role(form.get("role", Role.TEAM_MEMBER.value))
    except ValueError:
        raise BadInput(f"role must be one of {', '.join(r.value for r in Role)}") from None
    return AccessEntry(environment=environment, role=role, **_grantee(form))


def _values(form: Form) -> dict[str, str]:
    """What was chosen, to choose it again on the refused form."""
    return {k: v[0] for k, v in form.fields.items() if len(v) == 1 and k != CSRF_FIELD}


def _principal(act: Acting) -> Principal:
    assert act.viewer.principal is not None
    return act.viewer.principal


def _refused(request: Request, act: Acting, name: str, exc: BadInput | Conflict | NotFound, *,
             which: str) -> Response:
    problems = problems_of(exc)  # a grant's violations name the model's grants: all go above the form
    grant, access = (problems, None) if which == "grant" else (None, problems)
    context = environment_context(core(request), act.viewer, name, values=_values(act.form),
                                  grant_problems=grant, access_problems=access)
    return render(request, act.viewer, "environment.html", context, status=exc.status)


def _done(name: str, anchor: str) -> Response:
    return RedirectResponse(f"{ENVIRONMENTS.path}/{quote(name, safe='')}?changed={anchor}#{anchor}",
                            status_code=303)


@router.post(ENVIRONMENTS.path + "/{name}/grants")
def add_grant(request: Request, name: str, act: Annotated[Acting, Depends(acting(GRANT_PERMISSION))]
              ) -> Response:
    try:
        governance.add_grant(core(request), _principal(act), _grant(act.form, name))
    except (BadInput, Conflict) as exc:
        return _refused(request, act, name, exc, which="grant")
    return _done(name, "grants")


@router.post(ENVIRONMENTS.path + "/{name}/grants/delete")
def revoke_grant(request: Request, name: str, act: Annotated[Acting, Depends(acting(GRANT_PERMISSION))]
                 ) -> Response:
    try:
        governance.remove_grant(core(request), _principal(act), _grant(act.form, name))
    except (BadInput, Conflict, NotFound) as exc:
        return _refused(request, act, name, exc, which="grant")
    return _done(name, "grants")


@router.post(ENVIRONMENTS.path + "/{name}/access")
def add_access(request: Request, name: str, act: Annotated[Acting, Depends(acting(GRANT_PERMISSION))]
               ) -> Response:
    try:
        governance.add_access(core(request), _principal(act), _access(act.form, name))
    except (BadInput, Conflict) as exc:
        return _refused(request, act, name, exc, which="access")
    return _done(name, "access")


@router.post(ENVIRONMENTS.path + "/{name}/access/delete")
def remove_access(request: Request, name: str, act: Annotated[Acting, Depends(acting(GRANT_PERMISSION))]
                  ) -> Response:
    try:
        governance.remove_access(core(request), _principal(act), _access(act.form, name))
    except (BadInput, Conflict, NotFound) as exc:
        return _refused(request, act, name, exc, which="access")
    return _done(name, "access")
