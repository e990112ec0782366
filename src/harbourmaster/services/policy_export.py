"""``policy export`` and ``policy diff``: the environment's rules for Kyverno, Gatekeeper and Cilium, and
the check that every layer (those files, harbourmaster's webhook and pull gate) enforces the rules of
the governance model (D-07)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, assert_never

import yaml
from pydantic import BaseModel

from harbourmaster.domain.admission_rules import AdmissionRules, admission_rules
from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.effective_policy import effective_policy
from harbourmaster.domain.exports import ExportFormat
from harbourmaster.domain.exports.cilium import cilium_policies
from harbourmaster.domain.exports.drift import Drift, gatekeeper_drift, kyverno_drift
from harbourmaster.domain.exports.gatekeeper import constraint, constraint_template
from harbourmaster.domain.exports.kyverno import kyverno_policy
from harbourmaster.errors import BadInput
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.environment_access import named_environment
from harbourmaster.services.harbor_drift import harbor_drift

__all__ = [
    "ExportFormat",
    "LayerAnswer",
    "MismatchPublic",
    "PolicyDiffPublic",
    "PolicyExportPublic",
    "diff_policy",
    "environment_rules",
    "export_policy",
]


class PolicyExportPublic(BaseModel):
    """The Kubernetes documents of one export, and the fingerprint of the rules they were made from."""

    environment: str
    format: ExportFormat
    fingerprint: str
    documents: list[dict[str, Any]]


class MismatchPublic(BaseModel):
    """One difference between what a layer enforces and the governance model."""

    layer: str
    subject: str
    detail: str


class PolicyDiffPublic(BaseModel):
    environment: str
    fingerprint: str
    #: The layers compared (``kyverno``, ``gatekeeper``, ``webhook``, ``gate``).
    layers: list[str]
    mismatches: list[MismatchPublic]


@dataclass(frozen=True, slots=True)
class LayerAnswer:
    """What a running layer (webhook, gate) answered on ``GET {url}/policy/{environment}``: its JSON
    body, or why there is none (connection refused, a status, not JSON)."""

    layer: str
    url: str
    body: Mapping[str, Any] | None = None
    error: str | None = None


def environment_rules(hm: Harbourmaster, principal: Principal, environment: str) -> AdmissionRules:
    """The admission rules of Kubernetes ``environment`` today.

    Raises:
        Forbidden: ``principal`` may not read the governance model.
        NotFound: no such environment.
        BadInput: it is not a Kubernetes environment.
    """
    require(principal, Permission.GOVERNANCE_READ)
    snapshot = hm.snapshot()
    env = named_environment(snapshot, environment)
    state = hm.state()
    policy = effective_policy(state, tier=env.tier, environment=env, today=hm.today())
    return admission_rules(
        snapshot,
        env,
        trust=state.signing,
        require_signature=policy.require_signature,
        signers=policy.signers,
        signers_required=policy.signers_required,
        fingerprint=policy.fingerprint,
        today=hm.today(),
    )


#: The engines an export writes an admission policy for, by name.
_ENGINES = {ExportFormat.KYVERNO: "Kyverno", ExportFormat.GATEKEEPER: "Gatekeeper"}


def _approved_content_gap(tier: str, engine: str) -> str:
    return (
        f"the {tier} tier admits only approved content (require_approved_content: true), which a {engine} "
        "policy cannot check (it does not know which digests airgap import approved)"
    )


def _refuse_unexpressible(hm: Harbourmaster, environment: str, format: ExportFormat) -> None:
    """Raises BadInput when ``format`` is an admission policy that would admit images harbourmaster
    denies: a tier that admits only approved content.  Cilium egress rules are not an image policy."""
    engine = _ENGINES.get(format)
    tier = hm.state().tiers[hm.snapshot().environments[environment].tier]
    if engine is None or not tier.require_approved_content:
        return
    raise BadInput(
        f"environment {environment}: {_approved_content_gap(tier.tier.value, engine)}; an exported "
        f"{engine} policy would admit images harbourmaster denies, so none is written. Enforce this "
        f"environment with harbourmaster's admission webhook (harbourmaster webhook manifests --env "
        f"{environment}), or set tiers.{tier.tier.value}.require_approved_content: false"
    )


def _failure_policy(hm: Harbourmaster, environment: str) -> str:
    return hm.snapshot().environments[environment].effective_failure_policy.value


def export_policy(
    hm: Harbourmaster, principal: Principal, *, environment: str, format: ExportFormat
) -> PolicyExportPublic:
    """The documents enforcing ``environment``'s rules in ``format``.

    Raises:
        Forbidden, NotFound, BadInput: as :func:`environment_rules`.
        BadInput: a Kyverno or Gatekeeper policy for an environment whose tier admits only approved
            content (neither engine can check it: the export would admit images harbourmaster denies).
    """
    rules = environment_rules(hm, principal, environment)
    _refuse_unexpressible(hm, environment, format)
    documents: list[dict[str, Any]]
    if format is ExportFormat.KYVERNO:
        documents = [kyverno_policy(rules, failure_policy=_failure_policy(hm, environment))]
    elif format is ExportFormat.GATEKEEPER:
        documents = [constraint_template(), constraint(rules)]
    elif format is ExportFormat.CILIUM_EGRESS:
        documents = cilium_policies(rules)
    else:
        assert_never(format)
    return PolicyExportPublic(
        environment=environment, format=format, fingerprint=rules.fingerprint, documents=documents
    )


def _documents(name: str, text: str) -> list[Any]:
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise BadInput(f"{name}: not YAML: {exc}") from None


def _layer_drift(answer: LayerAnswer, environment: str, tier: str, fingerprint: str) -> list[Drift]:
    subject = answer.url
    if answer.body is None:
        return [Drift(answer.layer, subject, f"no answer on its policy endpoint: {answer.error}")]
    drifts: list[Drift] = []
    found = answer.body.get("fingerprint")
    if answer.body.get("environment") not in (None, environment):
        drifts.append(
            Drift(answer.layer, subject, f"answers for environment {answer.body.get('environment')}")
        )
    if answer.body.get("tier") not in (None, tier):
        drifts.append(
            Drift(
                answer.layer,
                subject,
                f"enforces tier {answer.body.get('tier')}; environment {environment} is {tier}",
            )
        )
    if found != fingerprint:
        drifts.append(
            Drift(
                answer.layer,
                subject,
                f"enforces rules with fingerprint {found}; the governance model's are {fingerprint}",
            )
        )
    return drifts


def diff_policy(
    hm: Harbourmaster,
    principal: Principal,
    *,
    environment: str,
    kyverno: tuple[str, str] | None = None,
    gatekeeper: tuple[str, str] | None = None,
    answers: Sequence[LayerAnswer] = (),
    harbor: bool = False,
) -> PolicyDiffPublic:
    """Compare each layer with the governance model: ``kyverno`` and ``gatekeeper`` are (file name,
    text) of exported or hand-edited policies, ``answers`` what running layers reported; ``harbor``
    reads the security settings of the Harbor projects of the managed registries granted to the
    environment (opening their administrator credential: registry operators only).

    Raises:
        Forbidden, NotFound: as :func:`environment_rules`.
        BadInput: nothing to compare, a file that is not YAML, or a Kyverno or Gatekeeper file for an
            environment that is not Kubernetes.
    """
    require(principal, Permission.GOVERNANCE_READ)
    if harbor:
        require(principal, Permission.REGISTRY_PROBE)
    if kyverno is None and gatekeeper is None and not answers and not harbor:
        raise BadInput(
            "name at least one layer to compare: --kyverno, --gatekeeper, --webhook, --gate or --harbor"
        )
    env = named_environment(hm.snapshot(), environment)
    policy = effective_policy(hm.state(), tier=env.tier, environment=env, today=hm.today())
    drifts: list[Drift] = []
    layers: list[str] = []
    if kyverno is not None or gatekeeper is not None:
        rules = environment_rules(hm, principal, environment)
        if kyverno is not None:
            layers.append("kyverno")
            drifts += kyverno_drift(
                rules, _documents(*kyverno), failure_policy=env.effective_failure_policy.value
            )
        if gatekeeper is not None:
            layers.append("gatekeeper")
            drifts += gatekeeper_drift(rules, _documents(*gatekeeper))
        if policy.require_approved_content:
            # No file of either engine can enforce it: the layer admits what the verdict denies.
            drifts += [
                Drift(
                    layer,
                    "approved content",
                    f"{_approved_content_gap(env.tier.value, _ENGINES[fmt])}: "
                    "admits images harbourmaster denies",
                )
                for layer, fmt, given in (
                    ("kyverno", ExportFormat.KYVERNO, kyverno),
                    ("gatekeeper", ExportFormat.GATEKEEPER, gatekeeper),
                )
                if given is not None
            ]
    for answer in answers:
        layers.append(answer.layer)
        drifts += _layer_drift(answer, environment, env.tier.value, policy.fingerprint)
    if harbor:
        layers.append("harbor")
        drifts += harbor_drift(hm, principal, environment)
    return PolicyDiffPublic(
        environment=environment,
        fingerprint=policy.fingerprint,
        layers=layers,
        mismatches=[MismatchPublic(layer=d.layer, subject=d.subject, detail=d.detail) for d in drifts],
    )
