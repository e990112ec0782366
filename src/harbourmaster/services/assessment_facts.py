"""The facts of the maturity assessment, gathered from the live system (reads only).

The governance model, the stored deployments, scans, SBOMs, signature verifications, approved content,
notification secrets and the advisory database are read in one read transaction; the audit chain is
verified as ``audit verify`` does.  What a running enforcement point enforces is what it answered on its
policy endpoint (:class:`~harbourmaster.services.policy_export.LayerAnswer`, asked by the surface, as
``policy diff`` does).  Facts harbourmaster does not model take the domain's defaults, and each is named
in :data:`ASSUMED` so the report can say so.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from harbourmaster.domain.assessment import (
    AssessmentFacts,
    AuditFacts,
    CoverageFacts,
    DeploymentFacts,
    EnvironmentFacts,
    GrantFacts,
    MirrorScheduleFacts,
    RegistryFacts,
)
from harbourmaster.domain.effective_policy import effective_policy
from harbourmaster.domain.harbor import PULL_ROBOT
from harbourmaster.domain.model import CredentialKind, EnvironmentKind, Registry, Tier
from harbourmaster.domain.reference import parse_reference
from harbourmaster.domain.state import GovernanceState
from harbourmaster.errors import Error, NotFound
from harbourmaster.services.audit_checkpoints import verify_audit_log
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.cron import parse_cron
from harbourmaster.services.harbor_sync import wanted_settings
from harbourmaster.services.policy_export import LayerAnswer
from harbourmaster.store.deployment_interface import DeploymentState, StoredDeployment
from harbourmaster.store.interface import Repositories
from harbourmaster.store.robot_interface import ManagedRobot

__all__ = ["ASSUMED", "EGRESS_ASSUMED", "GatheredFacts", "gather_facts"]

#: Facts harbourmaster does not model: the assessment takes the default, and the report says so.
ASSUMED: Final = (
    "hosting: every environment is assumed on premises (harbourmaster does not record where a cluster runs)",
    "build-time scanning: no deployed digest is assumed scanned in CI (harbourmaster keeps no record of a "
    "CI scan)",
)

#: Said of the environments whose egress restriction the caller did not attest.
EGRESS_ASSUMED: Final = (
    "egress: {names} assumed not to restrict egress to the approved registries (harbourmaster does not "
    "see network policy: export one with harbourmaster policy export --format cilium-egress, apply it, "
    "then attest it with --egress-restricted ENV)"
)


@dataclass(frozen=True, slots=True)
class GatheredFacts:
    facts: AssessmentFacts
    #: What was taken by default rather than observed.
    assumed: tuple[str, ...]
    #: The enforcement points whose answers were looked at, as ``layer url``.
    layers: tuple[str, ...]


def _registry(hm: Harbourmaster, state: GovernanceState, reg: Registry, robots: Sequence[ManagedRobot], *,
              notified: bool) -> RegistryFacts:  # fmt: skip
    """A registry's facts.  A managed Harbor is judged by what harbourmaster made it: its pull robot is the
    credential deployments use, and its project has the settings ``harbor sync`` gave it (``policy diff
    --harbor`` reports a project that drifted since)."""
    cred = reg.credential
    kind = cred.kind if cred is not None else None
    expires = cred.expires if cred is not None else None
    managed = reg.management is not None
    mine = [r for r in robots if r.registry == reg.name and r.name == PULL_ROBOT and r.retire_after is None]
    pull = mine[-1] if mine else None
    settings = wanted_settings(hm, state, reg) if managed and pull is not None else None
    if managed and pull is not None:
        kind = CredentialKind.ROBOT
        expires = pull.expires_at.date() if pull.expires_at is not None else None
    return RegistryFacts(
        name=reg.name,
        provider=reg.provider,
        host=reg.location.host,
        scope=reg.scope,
        public=reg.public,
        credential_kind=kind,
        expiry_set=expires is not None,
        expires_in_days=(expires - hm.today()).days if expires is not None else None,
        insecure=reg.tls.insecure,
        managed=managed and pull is not None,
        rotated=managed and pull is not None and hm.settings.rotation_seconds > 0,
        # A registry that sends its push events to harbourmaster has every push scanned; a synced Harbor
        # project scans on push itself.
        scan_on_push=notified or (settings is not None and settings.auto_scan),
        block_severity=settings.severity if settings is not None and settings.prevent_vul else None,
        content_trust=settings is not None and settings.content_trust_cosign,
    )


def _seen(answers: Sequence[LayerAnswer], layer: str, environment: str) -> str | None:
    """The fingerprint ``layer`` answered for ``environment``; None when none answered for it."""
    for a in answers:
        if a.layer != layer or a.body is None:
            continue
        if a.body.get("environment") not in (None, environment):
            continue
        found = a.body.get("fingerprint")
        if isinstance(found, str):
            return found
    return None


def _interval_days(hm: Harbourmaster, schedule: str, name: str) -> int:
    """The longest gap between two runs of ``schedule`` over the coming year, in whole days (rounded up)."""
    cron = parse_cron(schedule, field=f"mirrors.{name}.schedule")
    at = hm.clock.now()
    end = at + dt.timedelta(days=366)
    longest = dt.timedelta(0)
    runs = 0
    while at < end and runs < 400:
        nxt = cron.following(at)
        if runs:
            longest = max(longest, nxt - at)
        at, runs = nxt, runs + 1
    return max(1, math.ceil(longest.total_seconds() / 86400))


def _deployment(stored: StoredDeployment) -> DeploymentFacts:
    # Swarm keeps the pull auth in the service spec unless registry_auth_retention is none: a credential
    # that outlives the deployment.  Docker and Kubernetes hold it only while the pull happens.
    kept = (
        stored.kind == EnvironmentKind.SWARM.value
        and stored.options.get("registry_auth_retention", "keep") != "none"
    )
    registries = sorted({str(i.get("registry")) for i in stored.images if i.get("registry")})
    return DeploymentFacts(
        id=stored.id,
        environment=stored.environment,
        jit=True,
        persistent_pull_secrets=tuple(f"swarm service pull auth ({r})" for r in registries) if kept else (),
    )


def _signed(hm: Harbourmaster, tx: Repositories, environment: str, pinned: Mapping[str, str]) -> set[str]:
    """The digests of ``pinned`` (digest -> pinned reference) whose cached verification under
    ``environment``'s trust is satisfied."""
    from harbourmaster.services.signing_trust import environment_trust, verification_cache_key

    try:
        trust = environment_trust(hm, environment)
    except Error:
        return set()
    keys = {d: verification_cache_key(trust, parse_reference(ref)) for d, ref in pinned.items()}
    cached = tx.signing.cached_many(list(keys.items()))
    return {d for d, k in keys.items() if (v := cached.get((d, k))) is not None and v.satisfied}


def _coverage(
    hm: Harbourmaster, tx: Repositories, state: GovernanceState, deployments: Sequence[StoredDeployment]
) -> tuple[CoverageFacts, ...]:
    tiers = {e.name: e.tier for e in state.environments}
    per_tier: dict[Tier, dict[str, tuple[str, str]]] = {}
    for d in deployments:
        tier = tiers.get(d.environment)
        if tier is None or d.state is not DeploymentState.DEPLOYED:
            continue
        for image in d.images:
            digest = image.get("digest")
            if isinstance(digest, str):
                per_tier.setdefault(tier, {})[digest] = (d.environment, str(image.get("pinned", "")))
    out = []
    for tier, digests in sorted(per_tier.items(), key=lambda kv: list(Tier).index(kv[0])):
        scanned = tx.scans.latest(list(digests))
        sboms = sum(1 for d in digests if tx.sboms.stored(image_digest=d))
        signed: set[str] = set()
        if state.tiers[tier].require_signature:
            by_env: dict[str, dict[str, str]] = {}
            for digest, (env, ref) in digests.items():
                if ref:
                    by_env.setdefault(env, {})[digest] = ref
            for env, pinned in by_env.items():
                signed |= _signed(hm, tx, env, pinned)
        out.append(
            CoverageFacts(
                tier=tier, deployed=len(digests), scanned=len(scanned), signed=len(signed), with_sbom=sboms
            )
        )
    return tuple(out)


def gather_facts(
    hm: Harbourmaster,
    state: GovernanceState,
    *,
    answers: Mapping[str, Sequence[LayerAnswer]],
    egress_restricted: Collection[str] = (),
) -> GatheredFacts:
    """The facts of the live system; ``answers`` are what running webhooks and gates answered, per
    environment; ``egress_restricted`` the environments whose egress policy the caller attests.

    Raises:
        NotFound: an environment of ``egress_restricted`` does not exist.
    """
    now = hm.clock.now()
    today = hm.today()
    with hm.store.read() as tx:
        notified = tx.governance.registries_with_event_secret()
        with_content = tx.approved_content.registries_with_content()
        approved = tuple(r.name for r in state.registries if r.name in with_content)
        stored = tx.deployments.list()
        robots = tx.robots.robots()
        coverage = _coverage(hm, tx, state, stored)
        last_import = tx.advisories.status().last_import
    names = {e.name for e in state.environments}
    for name in egress_restricted:
        if name not in names:
            raise NotFound(f"--egress-restricted {name}: no such environment ({', '.join(sorted(names))})")
    registries = tuple(_registry(hm, state, r, robots, notified=r.name in notified) for r in state.registries)
    grants_of: dict[str, list[GrantFacts]] = {}
    for g in state.grants:
        grants_of.setdefault(g.environment, []).append(
            GrantFacts(g.registry, namespace=g.namespace, user=g.user, team=g.team)
        )
    environments = []
    for env in state.environments:
        seen = answers.get(env.name, ())
        environments.append(
            EnvironmentFacts(
                name=env.name,
                kind=env.kind,
                tier=env.tier,
                namespaces=env.namespaces,
                hide_dockerhub_anonymous=env.hide_dockerhub_anonymous or state.hide_dockerhub_anonymous,
                admission=env.admission,
                egress_restricted=env.name in egress_restricted,
                expected_fingerprint=effective_policy(
                    state, tier=env.tier, environment=env, today=today
                ).fingerprint,
                webhook_fingerprint=_seen(seen, "webhook", env.name),
                gate_fingerprint=_seen(seen, "gate", env.name),
                grants=tuple(grants_of.get(env.name, ())),
            )
        )
    verified = verify_audit_log(hm, incremental=True)
    facts = AssessmentFacts(
        registries=registries,
        environments=tuple(environments),
        tiers=tuple(state.tiers[t] for t in Tier if t in state.tiers),
        coverage=coverage,
        advisory_db_age_hours=(now - last_import).total_seconds() / 3600 if last_import is not None else None,
        audit=AuditFacts(chain_verified=verified.ok, checkpoints=verified.checkpoints.checked),
        approved_content_registries=approved,
        mirror_schedules=tuple(
            MirrorScheduleFacts(
                name=m.name,
                source=m.image_set,
                target_registry=m.to,
                interval_days=_interval_days(hm, m.schedule, m.name),
            )
            for m in state.mirrors
        ),
        deployments=tuple(_deployment(d) for d in stored if d.state is DeploymentState.DEPLOYED),
    )
    layers = tuple(f"{a.layer} {a.url}" for seen in answers.values() for a in seen)
    unattested = sorted(names - set(egress_restricted))
    assumed = ASSUMED + ((EGRESS_ASSUMED.format(names=", ".join(unattested)),) if unattested else ())
    return GatheredFacts(facts=facts, assumed=assumed, layers=layers)
