"""``harbourmaster assess`` and ``GET /api/v1/assessment``: the live configuration judged against the
seed's key decisions Ch5-D-01 to D-09 and maturity levels 1-4 (:mod:`harbourmaster.domain.assessment`).
The answer renders itself as HTML (:meth:`AssessmentPublic.html`)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from harbourmaster.domain.assessment import assess
from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.services.assessment_facts import gather_facts
from harbourmaster.services.assessment_results import AssessmentPublic
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.policy_export import LayerAnswer

__all__ = ["assessment"]


def assessment(
    hm: Harbourmaster,
    principal: Principal,
    *,
    answers: Mapping[str, Sequence[LayerAnswer]] | None = None,
    egress_restricted: Collection[str] = (),
) -> AssessmentPublic:
    """Assess the live configuration.  ``answers`` are what running admission webhooks and pull gates
        answered on their policy endpoint, per environment (none: no enforcement point was observed, and
        the decisions that need one are not met).  ``egress_restricted`` names the environments whose egress
    policy the caller attests (harbourmaster cannot see network policy).  Reads only; writes no audit record.

        Raises:
            Forbidden: ``principal`` may not read the governance model.
            NotFound: an environment of ``egress_restricted`` does not exist.
    """
    require(principal, Permission.GOVERNANCE_READ)
    with hm.one_view() as (snapshot, state):
        gathered = gather_facts(hm, state, answers=answers or {}, egress_restricted=egress_restricted)
        revision = snapshot.revision
    return AssessmentPublic.of(
        assess(gathered.facts),
        assessed_at=hm.clock.now(),
        revision=revision,
        assumed=gathered.assumed,
        layers=gathered.layers,
    )
