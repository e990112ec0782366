"""What harbourmaster holds about one image digest of a registry: its latest kept scan, its cached
signature verifications (under the trust of each environment the registry is granted to) and its stored
SBOMs.

Nothing is fetched, scanned or verified here: what was never done is reported as not done (``scan`` None,
a signature ``not-verified``, no SBOM), so a browsing surface can say "unknown" honestly.
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.reference import parse_reference
from harbourmaster.errors import BadInput, Error
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_scope import named_registry
from harbourmaster.services.sboms import list_sboms

__all__ = ["DigestStatusPublic", "SbomStatusPublic", "ScanStatusPublic", "SignatureStatusPublic",
           "digest_status"]


class ScanStatusPublic(BaseModel):
    scanned_at: str
    #: ``registry`` or ``stored-sbom`` (see :mod:`harbourmaster.services.image_scans`).
    origin: str
    components: int
    findings: int
    #: Findings by severity (as matched: the tier and the allowlist are applied when judged).
    by_severity: dict[str, int]


class SignatureStatusPublic(BaseModel):
    environment: str
    tier: str
    #: ``satisfied`` | ``not-satisfied`` | ``not-verified`` (no cached verification under this trust)
    #: | ``unknown`` (the environment's trust could not be read; ``error`` says why).
    state: str
    verified_at: str | None = None
    verified_signers: list[str] = []
    error: str | None = None


class SbomStatusPublic(BaseModel):
    format: str
    origin: str
    platform: str
    components: int
    created_at: str


class DigestStatusPublic(BaseModel):
    registry: str
    repository: str
    digest: str
    scan: ScanStatusPublic | None
    signatures: list[SignatureStatusPublic]
    sboms: list[SbomStatusPublic]


def digest_status(hm: Harbourmaster, principal: Principal, *, registry: str, repository: str, digest: str
                  ) -> DigestStatusPublic:
    """The kept scan, cached signature verifications and stored SBOMs of ``digest`` in ``repository``
    (a path within the registry's host) of ``registry``.

    Raises:
        Forbidden: ``principal`` may not read governance data.
        NotFound: no such registry.
        BadInput: ``repository@digest`` is not an image reference.
    """
    from harbourmaster.services.signing_trust import environment_trust, verification_cache_key

    require(principal, Permission.GOVERNANCE_READ)
    reg = named_registry(hm, registry)
    try:
        ref = parse_reference(f"{reg.location.host}/{repository}@{digest}")
    except Error as exc:
        raise BadInput(f"{repository}@{digest} is not an image reference: {exc.message}") from exc
    state = hm.state()
    environments = sorted({g.environment for g in state.grants if g.registry == reg.name})
    keys: dict[str, str] = {}
    signatures: list[SignatureStatusPublic] = []
    for name in environments:
        env = state.environment(name)
        if env is None:
            continue
        try:
            keys[name] = verification_cache_key(environment_trust(hm, name), ref)
        except Error as exc:
            signatures.append(SignatureStatusPublic(environment=name, tier=env.tier.value, state="unknown",
                                                    error=exc.message))
    with hm.store.read() as tx:
        kept = tx.scans.latest([digest]).get(digest)
        cached = tx.signing.cached_many([(digest, k) for k in keys.values()])
    for name, key in keys.items():
        env = state.environment(name)
        assert env is not None
        found = cached.get((digest, key))
        if found is None:
            signatures.append(SignatureStatusPublic(environment=name, tier=env.tier.value,
                                                    state="not-verified"))
            continue
        signatures.append(SignatureStatusPublic(
            environment=name, tier=env.tier.value,
            state="satisfied" if found.satisfied else "not-satisfied",
            verified_at=found.verified_at.isoformat(),
            verified_signers=[str(s) for s in found.result.get("verified_signers", ())],
        ))
    scan = None
    if kept is not None:
        counts = Counter(f.severity.value for f in kept.findings)
        scan = ScanStatusPublic(scanned_at=kept.scanned_at.isoformat(), origin=kept.origin,
                                components=kept.components, findings=len(kept.findings),
                                by_severity=dict(sorted(counts.items())))
    sboms = [SbomStatusPublic(format=s.format, origin=s.origin, platform=s.platform,
                              components=s.component_count, created_at=s.created_at.isoformat())
             for s in list_sboms(hm, image_digest=digest)]
    return DigestStatusPublic(registry=reg.name, repository=repository, digest=digest, scan=scan,
                              signatures=sorted(signatures, key=lambda s: s.environment), sboms=sboms)
