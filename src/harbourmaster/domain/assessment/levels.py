"""The maturity levels 1-4, their controls, and :func:`assess`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from harbourmaster.domain.assessment._judgements import (
    Tally,
    admission_enforced,
    admission_evidence,
    coverage,
    registry_gate,
)
from harbourmaster.domain.assessment.decisions import DECISIONS
from harbourmaster.domain.assessment.facts import AssessmentFacts
from harbourmaster.domain.assessment.results import (
    Assessment,
    ControlResult,
    DecisionResult,
    Level,
    LevelControl,
    LevelResult,
    Outcome,
)


def _met(decision_id: str) -> Callable[[AssessmentFacts], Outcome]:
    decision = next(d for d in DECISIONS if d.id == decision_id)
    return decision.check


def _approved_list(facts: AssessmentFacts) -> Outcome:
    t = Tally()
    for env in facts.environments:
        bad = [g.registry for g in env.grants if not ((r := facts.registry(g.registry)) and r.approved)]
        t.judge(
            "-",
            bool(env.grants) and not bad,
            f"environment {env.name}: approved list",
            f"environment {env.name}: " + (f"unapproved {', '.join(bad)}" if bad else "no approved list"),
        )
    return t.outcome()


def _anonymous_hidden_everywhere(facts: AssessmentFacts) -> Outcome:
    t = Tally()
    for env in facts.environments:
        t.judge(
            "-",
            env.hide_dockerhub_anonymous,
            f"environment {env.name}: Docker Hub anonymous hidden",
            f"environment {env.name}: Docker Hub anonymous access is visible",
            f"harbourmaster registry hide-anonymous --env {env.name}",
        )
    return t.outcome()


def _jit_credentials(facts: AssessmentFacts) -> Outcome:
    t = Tally()
    for d in facts.deployments:
        t.judge(
            "-",
            d.jit and not d.persistent_pull_secrets,
            f"deployment {d.id} on {d.environment}: just-in-time credentials",
            f"deployment {d.id} on {d.environment}: "
            + (
                f"persistent pull secrets {', '.join(d.persistent_pull_secrets)}"
                if d.persistent_pull_secrets
                else "not deployed with just-in-time credentials"
            ),
            f"harbourmaster jit reap --env {d.environment}",
        )
    return t.outcome()


def _push_scan_enforced(facts: AssessmentFacts) -> Outcome:
    t = Tally()
    for env in facts.environments:
        for reg in facts.granted(env):
            t.judge(
                "-",
                reg.scan_on_push and registry_gate(facts, env, reg),
                f"environment {env.name}: registry {reg.name} scans on push and blocks",
                f"environment {env.name}: registry {reg.name} "
                + ("does not block over the threshold" if reg.scan_on_push else "does not scan on push"),
            )
    return t.outcome()


def _single_registry_per_tier(facts: AssessmentFacts) -> Outcome:
    t = Tally()
    for env in facts.environments:
        hosts = sorted({r.host for r in facts.granted(env)})
        t.judge(
            "-",
            len(hosts) == 1,
            f"environment {env.name}: one registry {hosts[0] if hosts else ''}",
            f"environment {env.name}: {len(hosts)} registries ({', '.join(hosts) or 'none'})",
        )
    tiers_of: dict[str, set[str]] = {}
    for env in facts.environments:
        for reg in facts.granted(env):
            tiers_of.setdefault(reg.name, set()).add(env.tier.value)
    for reg in facts.registries:
        tiers = sorted(tiers_of.get(reg.name, ()))
        t.judge(
            "-",
            len(tiers) <= 1,
            f"registry {reg.name}: scoped to tier {''.join(tiers) or '-'}",
            f"registry {reg.name} (scope {reg.scope}): shared by tiers {', '.join(tiers)}",
        )
    return t.outcome()


def _admission_source(facts: AssessmentFacts) -> Outcome:
    t = Tally()
    for env in facts.environments:
        t.judge("-", admission_enforced(env), admission_evidence(env), admission_evidence(env))
    return t.outcome()


def _thresholds_consistent(facts: AssessmentFacts) -> Outcome:
    t = Tally()
    for env in facts.environments:
        for reg in facts.granted(env):
            t.judge(
                "-",
                registry_gate(facts, env, reg) and admission_enforced(env),
                f"environment {env.name}: {reg.name} and admission share the tier threshold",
                f"environment {env.name}: {reg.name} or its admission differs from tier {env.tier.value}",
            )
    return t.outcome()


def _sboms_attached(facts: AssessmentFacts) -> Outcome:
    t = Tally()
    coverage(t, facts.coverage, "with_sbom", "with an SBOM", "harbourmaster sbom attach IMAGE")
    return t.outcome()


def _c(cid: str, text: str, check: Callable[[AssessmentFacts], Outcome]) -> LevelControl:
    return LevelControl(cid, text, check)


LEVELS: Final[tuple[Level, ...]] = (
    Level(1, "Teams pull images directly from any source; no approved list (no control required)", ()),
    Level(
        2,
        "Approved registry list, Docker Hub anonymous hidden, credentials injected just in time",
        (
            _c(
                "L2-approved-list",
                "Teams deploy only from registries added and granted to their environment",
                _approved_list,
            ),
            _c(
                "L2-anonymous-hidden",
                "Docker Hub anonymous access is hidden on all environments",
                _anonymous_hidden_everywhere,
            ),
            _c(
                "L2-jit-credentials",
                "Credentials stored centrally and injected just in time; no pull secrets "
                "distributed per namespace",
                _jit_credentials,
            ),
        ),
    ),
    Level(
        3,
        "Push-time scanning enforced at the registry; admission enforces the image source list",
        (
            _c(
                "L3-push-scan-enforced",
                "Scanning active at push time and enforced at the registry: images over "
                "the threshold cannot be pulled",
                _push_scan_enforced,
            ),
            _c(
                "L3-single-registry",
                "A single approved registry per environment, projects scoped by tier",
                _single_registry_per_tier,
            ),
            _c(
                "L3-admission-source",
                "The admission controller enforces the image source list however the deployment was started",
                _admission_source,
            ),
            _c(
                "L3-thresholds-consistent",
                "Scanning thresholds consistent between registry and admission",
                _thresholds_consistent,
            ),
        ),
    ),
    Level(
        4,
        "Three-layer scanning, signed production images, SBOMs, robot accounts, namespace tenancy",
        (
            _c("L4-three-layer-scanning", "Scanning at build, push and admission time", _met("Ch5-D-03")),
            _c(
                "L4-production-signed",
                "All production images signed, enforced at registry and cluster",
                _met("Ch5-D-04"),
            ),
            _c(
                "L4-sboms",
                "SBOMs generated at build time, attached to digests, stored in the registry",
                _sboms_attached,
            ),
            _c(
                "L4-robot-accounts",
                "Robot accounts with mandatory expiry for all integrations",
                _met("Ch5-D-08"),
            ),
            _c(
                "L4-namespace-tenancy",
                "Registry access mapped to the namespace-as-tenancy model",
                _met("Ch5-D-05"),
            ),
        ),
    ),
)


def assess(facts: AssessmentFacts) -> Assessment:
    """Judge ``facts`` against every key decision and maturity level.  Raises nothing."""
    decisions = []
    for d in DECISIONS:
        out = d.check(facts)
        decisions.append(
            DecisionResult(
                id=d.id,
                title=d.title,
                status=out.status,
                evidence=out.shortfalls + out.passes,
                shortfalls=out.shortfalls,
                remedies=out.remedies,
            )
        )
    levels = []
    for lvl in LEVELS:
        controls = []
        for c in lvl.controls:
            out = c.check(facts)
            controls.append(ControlResult(c.id, c.text, not out.shortfalls, out.shortfalls))
        levels.append(LevelResult(lvl.number, lvl.summary, all(c.met for c in controls), tuple(controls)))
    reached = 0
    for lr in levels:
        if not lr.met:
            break
        reached = lr.number
    return Assessment(tuple(decisions), tuple(levels), reached)
