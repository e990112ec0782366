"""``policy diff --harbor``: the security settings of each managed Harbor project an environment pulls
from, read back through Harbor's API and compared with what the model wants (D-07: Harbor's deployment
security policy and the admission controller block the same thing)."""

from __future__ import annotations

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.exports.drift import Drift
from harbourmaster.domain.harbor import harbor_project
from harbourmaster.registry.harbor_api import HarborApi, HarborApiError, HarborNotFound, HarborProject
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.harbor_robots import admin_api
from harbourmaster.services.harbor_sync import project_drift, wanted_settings
from harbourmaster.services.registry_endpoints import run_sync

__all__ = ["harbor_drift"]


def harbor_drift(hm: Harbourmaster, principal: Principal, environment: str) -> list[Drift]:
    """One :class:`Drift` per setting of a granted managed Harbor project that differs from the model, or
    per project that cannot be read (missing, Harbor down or refusing)."""
    state = hm.state()
    granted = dict.fromkeys(g.registry for g in state.grants if g.environment == environment)
    drifts: list[Drift] = []
    for name in granted:
        reg = state.registry(name)
        project = harbor_project(reg) if reg is not None and reg.management is not None else None
        if reg is None or project is None:
            continue
        subject = f"{reg.name} (project {project})"
        wanted = wanted_settings(hm, state, reg)
        try:
            found = run_sync(_read(admin_api(hm, reg, actor=principal.name, purpose="policy.diff"), project))
        except HarborNotFound:
            drifts.append(Drift("harbor", subject, f"the project does not exist; run: harbourmaster harbor "
                                                    f"sync --registry {reg.name}"))  # fmt: skip
            continue
        except HarborApiError as exc:
            drifts.append(Drift("harbor", subject, f"cannot read the project: {exc.message}"))
            continue
        for change in project_drift(wanted, found):
            drifts.append(Drift("harbor", subject, f"{change.setting} is {change.current or '(unset)'}; "
                                                    f"the model wants {change.wanted}"))  # fmt: skip
    return drifts


async def _read(api: HarborApi, project: str) -> HarborProject:
    async with api:
        return await api.project(project)
