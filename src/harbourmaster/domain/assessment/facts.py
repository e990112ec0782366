"""The facts an assessment judges, gathered by a service from the live system."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from harbourmaster.domain.model import AdmissionMode, CredentialKind, EnvironmentKind, Provider, Tier
from harbourmaster.domain.tiers import TierPolicy

#: An advisory database older than this no longer counts as ongoing correlation (D-09).
CORRELATION_MAX_AGE_HOURS: Final = 24.0
#: The seed's resync cadence: "monthly at minimum for security patches" (5.4, air-gapped and mirror).
MIRROR_MAX_INTERVAL_DAYS: Final = 31


class Status(StrEnum):
    MET = "met"
    PARTLY_MET = "partly met"
    NOT_MET = "not met"


class Hosting(StrEnum):
    """Where an environment's cluster runs: decides its reference registry (D-02)."""

    ON_PREMISES = "on-premises"
    AIR_GAPPED = "air-gapped"
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"


# --- facts -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryFacts:
    name: str
    provider: Provider
    host: str
    scope: str | None = None
    approved: bool = True
    public: bool = False
    credential_kind: CredentialKind | None = None
    expiry_set: bool = False
    expires_in_days: int | None = None
    managed: bool = False
    rotated: bool = False
    insecure: bool = False
    #: The registry scans every push (Harbor ``auto_scan``, or its notifications sent to harbourmaster).
    scan_on_push: bool = False
    #: The registry's own pull threshold (Harbor ``prevent_vul`` severity); None: it blocks nothing.
    block_severity: str | None = None
    #: The registry refuses unsigned pulls (Harbor ``enable_content_trust_cosign``).
    content_trust: bool = False


@dataclass(frozen=True, slots=True)
class GrantFacts:
    registry: str
    namespace: str | None = None
    user: str | None = None
    team: str | None = None


@dataclass(frozen=True, slots=True)
class EnvironmentFacts:
    name: str
    kind: EnvironmentKind
    tier: Tier
    hosting: Hosting = Hosting.ON_PREMISES
    namespaces: tuple[str, ...] = ()
    hide_dockerhub_anonymous: bool = False
    admission: AdmissionMode = AdmissionMode.ENFORCE
    #: The fingerprint of the rules the model says this environment enforces.
    expected_fingerprint: str = ""
    #: The fingerprint the admission webhook answered with; None: no webhook seen.
    webhook_fingerprint: str | None = None
    #: The fingerprint the registry pull gate answered with; None: no gate seen.
    gate_fingerprint: str | None = None
    #: An egress policy limits the nodes to the approved registry hosts.
    egress_restricted: bool = False
    grants: tuple[GrantFacts, ...] = ()


@dataclass(frozen=True, slots=True)
class CoverageFacts:
    """Deployed digests of one tier, and how many of them carry each kind of evidence."""

    tier: Tier
    deployed: int
    scanned: int = 0
    signed: int = 0
    with_sbom: int = 0
    #: Digests whose scan came from a CI job before push (``harbourmaster scan --tier``).
    build_scanned: int = 0


@dataclass(frozen=True, slots=True)
class AuditFacts:
    chain_verified: bool = False
    checkpoints: int = 0


@dataclass(frozen=True, slots=True)
class MirrorScheduleFacts:
    name: str
    source: str
    target_registry: str
    interval_days: int


@dataclass(frozen=True, slots=True)
class DeploymentFacts:
    id: str
    environment: str
    jit: bool
    persistent_pull_secrets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AssessmentFacts:
    registries: tuple[RegistryFacts, ...]
    environments: tuple[EnvironmentFacts, ...]
    tiers: tuple[TierPolicy, ...]
    coverage: tuple[CoverageFacts, ...] = ()
    #: Age of the advisory database correlated against the SBOMs; None: never imported.
    advisory_db_age_hours: float | None = None
    audit: AuditFacts = field(default_factory=AuditFacts)
    #: Registries with approved content recorded by an air-gap import.
    approved_content_registries: tuple[str, ...] = ()
    mirror_schedules: tuple[MirrorScheduleFacts, ...] = ()
    deployments: tuple[DeploymentFacts, ...] = ()

    #: Indexes built once (the facts are immutable): registry by name with its position, and the
    #: registries each environment grants.  Not part of equality or the representation.
    _by_name: dict[str, tuple[int, RegistryFacts]] = field(init=False, repr=False, compare=False)
    _granted: dict[str, tuple[EnvironmentFacts, tuple[RegistryFacts, ...]]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_name: dict[str, tuple[int, RegistryFacts]] = {}
        for i, r in enumerate(self.registries):
            by_name.setdefault(r.name, (i, r))
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_granted", {e.name: (e, self._grants_of(e)) for e in self.environments})

    def registry(self, name: str) -> RegistryFacts | None:
        found = self._by_name.get(name)
        return found[1] if found is not None else None

    def tier(self, tier: Tier) -> TierPolicy | None:
        return next((t for t in self.tiers if t.tier == tier), None)

    def granted(self, env: EnvironmentFacts) -> list[RegistryFacts]:
        """The registries ``env`` grants, in the order of :attr:`registries`."""
        known = self._granted.get(env.name)
        return list(known[1] if known is not None and known[0] is env else self._grants_of(env))

    def _grants_of(self, env: EnvironmentFacts) -> tuple[RegistryFacts, ...]:
        positions = sorted({found[0] for g in env.grants if (found := self._by_name.get(g.registry))})
        return tuple(self.registries[i] for i in positions)
