"""The registry pull gate's rules: what a pull of ``repository@digest`` through registry R for
environment E is judged by, and what is kept of it.

The gate sees no tenant (no namespace or user at pull time), so the source part of the verdict is
"R is approved and usable on E's tier" (:func:`harbourmaster.domain.decision.decide_for_tier`); the
vulnerability and signature parts are the image policy verdict's own
(:func:`harbourmaster.services.verdicts.judge`: the digest's kept scan, the tier's signature rule).

The gate acts as the system principal ``gate:<registry>`` (role team-member: it reads the model and
the kept scans, and may open the registry's stored credential only for anonymous clients of a
development-tier environment; it writes nothing but audit records).

Every pull through the gate is audited as ``registry.pull`` (``via: gate``), like a registry's own
pull notifications, by a background writer that batches records (one transaction per batch): the
stream never waits for the audit log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.decision import decide_for_tier
from harbourmaster.domain.model import Registry, Role, Tier
from harbourmaster.errors import Forbidden
from harbourmaster.registry import CredentialProvider, RegistryEndpoint
from harbourmaster.services.audit import AuditEvent
from harbourmaster.services.audit_batches import AuditBatchWriter
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.environment_access import named_environment
from harbourmaster.services.policy import PolicyPublic, show_policy
from harbourmaster.services.registry_endpoints import endpoint_for, provider_for
from harbourmaster.services.registry_scope import named_registry, within_scope
from harbourmaster.services.verdict_cache import REVISION_RECHECK, RecentVerdicts
from harbourmaster.services.verdicts import judge, verdict_decisions

__all__ = [
    "GATE_ACTOR_PREFIX",
    "REVISION_RECHECK",
    "GateVerdict",
    "PullGate",
    "gate_principal",
    "open_pull_gate",
]

log = logging.getLogger(__name__)

GATE_ACTOR_PREFIX = "gate:"
#: The OCI error code of a denied manifest (the distribution spec's ``DENIED``; Harbor's own is
#: ``PROJECTPOLICYVIOLATION``, also with 412).
DENIED_CODE = "DENIED"


def gate_principal(registry: str) -> Principal:
    """The system principal a pull gate in front of ``registry`` acts as."""
    return Principal(f"{GATE_ACTOR_PREFIX}{registry}", Role.TEAM_MEMBER)


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """The verdict on one pulled digest, as the gate answers and audits it."""

    image: str
    allowed: bool
    reasons: tuple[str, ...]
    tier: str | None
    policy_fingerprint: str | None
    parts: dict[str, Any]

    def message(self, environment: str) -> str:
        """The denial message a client shows: the policy (environment, tier, fingerprint) and reasons."""
        policy = f"harbourmaster policy of environment {environment} (tier {self.tier or 'unknown'}"
        if self.policy_fingerprint:
            policy += f", fingerprint {self.policy_fingerprint[:19]}"
        return f"{policy}) denies {self.image}: " + "; ".join(self.reasons)


class PullGate:
    """The rules of one gate: registry ``registry`` in front of environment ``environment``."""

    def __init__(self, hm: Harbourmaster, principal: Principal, *, registry: Registry, environment: str,
                 tier: Tier, endpoint: RegistryEndpoint, development_only: bool,
                 anonymous_provider: CredentialProvider | None, verdict_ttl: float) -> None:
        self._hm = hm
        self.principal = principal
        self.registry = registry
        self.environment = environment
        self.tier = tier
        self.endpoint = endpoint
        self.development_only = development_only
        #: The stored credential for anonymous clients (development tier only); never shown.
        self.anonymous_provider = anonymous_provider
        self._verdicts: RecentVerdicts[tuple[str, str], GateVerdict] = RecentVerdicts(hm, ttl=verdict_ttl)
        self._verdicts.keep_current(name="gate-revision")
        self._audit = AuditBatchWriter(hm, name="gate-audit", flush_seconds=0.25, batch=500)

    def refusal(self, kind: str, repository: str | None) -> str | None:
        """Why the gate does not serve an API path of ``kind`` for ``repository`` (it is outside the
        registry's scope: the gate serves what registry NAME covers, blobs and tag lists included, so no
        client — least of all an anonymous one served with the stored credential — reads beyond it), or
        None."""
        scope = self.registry.location.scope
        where = "/".join((self.registry.location.host, *scope))
        if kind == "catalog" and scope:
            return (f"registry {self.registry.name} covers {where} only: this gate does not list the "
                    "host's repositories")
        if repository is not None and not within_scope(self.registry, repository):
            return f"{repository} is outside registry {self.registry.name} ({where}): not served by this gate"
        return None

    @property
    def image_host(self) -> str:
        """The host images of this registry are named by (``host/repository@digest``)."""
        return self.registry.location.host

    def cached_verdict(self, repository: str, digest: str) -> GateVerdict | None:
        """The verdict taken within ``verdict_ttl`` seconds at the model revision known to be current
        (:class:`~harbourmaster.services.verdict_cache.RecentVerdicts`); None when :meth:`verdict` must
        be asked.  Reads nothing: safe on the request's event loop."""
        return self._verdicts.get((repository, digest))

    def verdict(self, repository: str, digest: str) -> GateVerdict:
        """The verdict on ``repository@digest`` for the environment (cached per model revision for
        ``verdict_ttl`` seconds).  Never raises for what it finds: what cannot be judged denies."""
        with self._hm.one_view() as (snapshot, _):  # one read of the model's revision per verdict
            revision = snapshot.revision
            self._verdicts.saw(snapshot)
            key = (repository, digest)
            cached = self._verdicts.get(key)
            if cached is not None:
                return cached
            image = f"{self.image_host}/{repository}@{digest}"
            sources = decide_for_tier(snapshot, environment=self.environment, registry=self.registry.name,
                                      images=[image])
            judged = judge(self._hm, self.principal, sources, environment=self.environment, resolve=True)
        (decision,) = verdict_decisions(judged)
        parts = dict(decision.verdict or {})
        result = GateVerdict(
            image=image,
            allowed=decision.allowed,
            reasons=decision.reasons,
            tier=judged.tier.value if judged.tier is not None else None,
            policy_fingerprint=judged.policy_fingerprint,
            parts=parts,
        )
        self._verdicts.keep(key, revision, result)
        return result

    def record_pull(self, verdict: GateVerdict, *, repository: str, reference: str, client: str | None,
                    user_agent: str | None, method: str) -> None:
        """Audit a manifest request through the gate as ``registry.pull`` (queued; never blocks)."""
        tag = None if reference.startswith(("sha256:", "sha512:")) else reference
        details = {
            "via": "gate",
            "registry": self.registry.name,
            "environment": self.environment,
            "repository": repository,
            "tag": tag,
            "digest": verdict.image.rpartition("@")[2],
            "addr": client,
            "useragent": user_agent,
            "method": method,
            "verdict": "allowed" if verdict.allowed else "denied",
            "reasons": list(verdict.reasons),
            "policy_fingerprint": verdict.policy_fingerprint,
        }
        self._audit.put(AuditEvent(self.principal.audit_name, "registry.pull", verdict.image,
                                   "ok" if verdict.allowed else "denied", details))

    def policy(self) -> PolicyPublic:
        """The environment's effective rules and fingerprint, as ``policy show`` has them."""
        return show_policy(self._hm, self.principal, environment=self.environment)

    def close(self) -> None:
        self._verdicts.close()
        self._audit.close()


def open_pull_gate(hm: Harbourmaster, principal: Principal, *, registry: str, environment: str,
                   verdict_ttl: float = 10.0) -> PullGate:
    """The gate of ``registry`` for ``environment``, with the registry's endpoint; on a development-tier
    environment, a registry with a stored credential lends it to anonymous clients (opened now,
    audited as ``credential.use`` with purpose ``gate.anonymous-pull``).

    Raises:
        Forbidden: ``principal`` is not this registry's gate, or may not read the model.
        NotFound: no such registry or environment.
        BadInput, VaultError: the registry's client key or credential cannot be used.
    """
    require(principal, Permission.GOVERNANCE_READ)
    if principal.name != f"{GATE_ACTOR_PREFIX}{registry}":
        raise Forbidden(f"{principal.name} may not act as the pull gate of registry {registry}")
    reg = named_registry(hm, registry)
    env = named_environment(hm.snapshot(), environment)
    actor = principal.audit_name
    # Plain HTTP or unverified TLS upstream only for a registry granted to development tiers alone.
    endpoint, development_only = endpoint_for(hm, reg, actor=actor, purpose="gate.connect")
    provider = None
    if env.tier is Tier.DEVELOPMENT and reg.credential is not None:
        provider = provider_for(hm, reg, actor=actor, purpose="gate.anonymous-pull")
    return PullGate(hm, principal, registry=reg, environment=env.name, tier=env.tier, endpoint=endpoint,
                    development_only=development_only, anonymous_provider=provider,
                    verdict_ttl=verdict_ttl)
