"""The image policy verdict as a service: what the store knows of each digest, judged by the domain.

:func:`judge` takes source decisions (already authorised, taken and pinned to digests by
:mod:`harbourmaster.services.decisions`) and gives each its verdict
(:func:`harbourmaster.domain.verdict.image_verdict`) with

- the latest kept scan of its digest (:mod:`harbourmaster.services.image_scans`); on a tier whose
  rule is ``unscanned: scan``, an unscanned digest is scanned now, all of them in parallel, within
  ``HARBOURMASTER_VERDICT_SCAN_SECONDS`` (a scan that does not finish in time is denied as unscanned,
  and goes on in the background, so the next verdict finds it);
- its signature verification under the environment's trust: the cached one when there is one,
  else verified now when the registry may be asked (``resolve``);
- on a tier that admits only approved content, whether the digest is approved content of its registry
  (:mod:`harbourmaster.domain.approved_content`): read with the scans, and judged with the source, so
  an image it denies is neither scanned nor verified.

Scanning and verifying here read only images whose source part is allowed, i.e. of a registry
granted to the caller's tenant on the environment: the caller's check makes harbourmaster read
nothing the grant does not cover.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from harbourmaster.domain.approved_content import approval_wanted, approved_source
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.decision import Decision
from harbourmaster.domain.effective_policy import effective_policy
from harbourmaster.domain.model import Role, Tier
from harbourmaster.domain.reference import ImageReference, parse_reference
from harbourmaster.domain.tiers import TierPolicy, UnscannedRule
from harbourmaster.domain.verdict import ImageVerdict, ScanFacts, SignatureFacts, image_verdict
from harbourmaster.errors import Error
from harbourmaster.services.budgets import RequestBudget
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.image_scans import facts_of, scan_facts
from harbourmaster.store.values import CachedVerification

if TYPE_CHECKING:
    from harbourmaster.services.signing_trust import Trust

__all__ = ["Judged", "approved_sources", "judge", "verdict_decisions"]

log = logging.getLogger(__name__)

#: Scans started by verdicts, per core: digest -> the future of its scan (shared by every verdict
#: waiting for that digest).
_SCANS: weakref.WeakKeyDictionary[Harbourmaster, dict[str, concurrent.futures.Future[None]]] = (
    weakref.WeakKeyDictionary()
)
_SCANS_LOCK = threading.Lock()
#: Scans run at once per process (each on a daemon thread: a CLI process exits when its verdict is
#: printed, not when a scan that outran the time budget ends; in ``serve`` the scan goes on and is kept).
_SLOTS = threading.BoundedSemaphore(2)
#: The most unscanned images one verdict starts scans for (one request must not queue unbounded work).
MAX_VERDICT_SCANS = 16
#: Signature verifications a request's budget ran out on go on here, so the next verdict finds them cached.
_VERIFICATIONS = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="verdict-verify")


@dataclass(frozen=True, slots=True)
class Judged:
    """Verdicts on a decision's images, with the tier and rules' fingerprint they were taken by."""

    verdicts: list[ImageVerdict]
    tier: Tier | None
    policy_fingerprint: str | None


def _scan_principal(principal: Principal) -> Principal:
    """Who scans an unscanned image for a verdict: harbourmaster, on the caller's behalf (the image's
    registry is granted to the caller's tenant, or the source would have denied it)."""
    return Principal(f"{principal.audit_name} (verdict scan)", Role.PLATFORM_ENGINEER)


def _start_scan(
    hm: Harbourmaster, principal: Principal, target: str, digest: str
) -> concurrent.futures.Future[None]:
    from harbourmaster.services.scans import scan_target  # the scanner, at first use

    with _SCANS_LOCK:
        running = _SCANS.setdefault(hm, {})
        future = running.get(digest)
        if future is not None and not future.done():
            return future

        future = concurrent.futures.Future()

        def run() -> None:
            with _SLOTS:
                try:
                    if future.set_running_or_notify_cancel():
                        scan_target(hm, _scan_principal(principal), target=target)
                        future.set_result(None)
                except BaseException as exc:  # handed to whoever waits for the scan
                    future.set_exception(exc)
                finally:
                    with _SCANS_LOCK:
                        _SCANS.get(hm, {}).pop(digest, None)

        running[digest] = future
        threading.Thread(target=run, name=f"verdict-scan {digest[:19]}", daemon=True).start()
        return future


def _scan_now(
    hm: Harbourmaster,
    principal: Principal,
    wanted: dict[str, str],
    request_budget: RequestBudget | None = None,
) -> tuple[dict[str, ScanFacts], dict[str, str]]:
    """Scan the digests of ``wanted`` (digest -> reference to scan) within the time budget (the
    smaller of the verdict's and what is left of ``request_budget``); returns the scans now kept and,
    for the others, why there is none."""
    budget = hm.settings.verdict_scan_seconds
    if budget <= 0:
        return {}, dict.fromkeys(
            wanted, "scanning at verdict time is off (HARBOURMASTER_VERDICT_SCAN_SECONDS=0)"
        )
    problems: dict[str, str] = {}
    over = sorted(wanted)[MAX_VERDICT_SCANS:]
    for digest in over:
        problems[digest] = f"at most {MAX_VERDICT_SCANS} unscanned images are scanned for one verdict"
    futures = {
        digest: _start_scan(hm, principal, target, digest)
        for digest, target in wanted.items()
        if digest not in over
    }
    deadline = time.monotonic() + budget
    if request_budget is not None and request_budget.deadline < deadline:
        deadline = request_budget.deadline
        budget = request_budget.seconds
    for digest, future in futures.items():
        try:
            future.result(timeout=max(0.0, deadline - time.monotonic()))
        except concurrent.futures.TimeoutError:
            problems[digest] = f"its scan did not finish within {budget:g} s (it goes on in the background)"
        except Error as exc:
            problems[digest] = f"its scan failed: {exc.message}"
        except Exception as exc:  # any failure of the scan denies the image, with its kind
            log.warning("the verdict scan of %s failed", digest, exc_info=True)
            problems[digest] = f"its scan failed ({type(exc).__name__})"
    done = scan_facts(hm, [d for d in futures if d not in problems])
    for digest in futures:
        if digest not in done and digest not in problems:
            problems[digest] = "its scan gave no result that may be kept for the verdict"
    return done, problems


def _signature_facts(
    hm: Harbourmaster,
    trust: Trust,
    decisions: Sequence[Decision],
    cached: Mapping[str, CachedVerification | None],
    *,
    resolve: bool,
    actor: str,
    budget: RequestBudget | None = None,
) -> dict[str, SignatureFacts]:
    """The signature facts of each decision's digest: its cached verification (``cached``, read with the
    kept scans), else, when the registry may be asked, verified now (and cached).  With ``budget``, a
    verification waits for what is left of it at most; one that did not finish goes on in the background
    (its result cached for the next verdict) and this digest's signature is unverified, saying why."""
    from harbourmaster.services.registry_scope import approved_registry
    from harbourmaster.services.signing import verify_with_trust
    from harbourmaster.services.signing_trust import negative_ttl

    now = hm.clock.now()
    out: dict[str, SignatureFacts] = {}
    for decision in decisions:
        assert decision.digest is not None
        known = cached.get(decision.digest)
        if known is not None and (known.satisfied or now - known.verified_at < negative_ttl()):
            out[decision.digest] = _facts(decision.digest, known.result, known.verified_at)
            continue
        if not resolve:
            continue
        ref = parse_reference(_scan_reference(decision))
        try:
            if budget is None:
                result = verify_with_trust(hm, ref, approved_registry(hm, ref), trust, actor=actor)
            else:
                late = budget.ran_out("signatures not verified")
                if budget.spent():
                    out[decision.digest] = SignatureFacts(digest=decision.digest, error=late)
                    continue
                running = _VERIFICATIONS.submit(
                    verify_with_trust, hm, ref, approved_registry(hm, ref), trust, actor=actor
                )
                try:
                    result = running.result(timeout=budget.remaining())
                except concurrent.futures.TimeoutError:
                    out[decision.digest] = SignatureFacts(digest=decision.digest, error=late)
                    continue
        except Error as exc:
            out[decision.digest] = SignatureFacts(digest=decision.digest, error=exc.message)
            continue
        out[decision.digest] = _facts(decision.digest, result.model_dump(mode="json"), now)
    return out


def _cache_key(trust: Trust, ref: ImageReference) -> str:
    from harbourmaster.services.signing_trust import verification_cache_key

    return verification_cache_key(trust, ref)


def _facts(digest: str, result: dict[str, Any], verified_at: dt.datetime) -> SignatureFacts:
    return SignatureFacts(
        digest=digest,
        verified_signers=tuple(result.get("verified_signers", ())),
        signatures=len(result.get("signatures", ())),
        verified_at=verified_at,
    )


def _scan_reference(decision: Decision) -> str:
    assert decision.normalized is not None and decision.digest is not None
    return f"{parse_reference(decision.normalized).repository}@{decision.digest}"


def _to_judge(decisions: Sequence[Decision]) -> list[Decision]:
    """One allowed decision per pinned digest: the images whose scans and signatures are looked at."""
    return list(
        {
            d.digest: d for d in decisions if d.allowed and d.digest is not None and d.normalized is not None
        }.values()
    )


def judge(
    hm: Harbourmaster,
    principal: Principal,
    decisions: Sequence[Decision],
    *,
    environment: str,
    resolve: bool = True,
    budget: RequestBudget | None = None,
) -> Judged:
    """The verdict on each of ``decisions`` (source decisions on ``environment``, pinned where the
    registry answered).  Never raises for what it finds: a part that cannot be judged denies.  With
    ``budget`` no scan or signature verification holds the call beyond it (see :func:`_scan_now` and
    :func:`_signature_facts`)."""
    snapshot, state = hm.current()  # shared until the model changes: a verdict loads nothing it knows
    env = state.environment(environment)
    today = hm.today()
    if env is None:
        return Judged([image_verdict(d, policy=None, today=today) for d in decisions], None, None)
    policy: TierPolicy = state.tiers[env.tier]
    judged = _to_judge(decisions)
    wanted = {pair for d in decisions if (pair := approval_wanted(d, policy)) is not None}
    trust = None
    if policy.require_signature and judged:
        # The signing trust, at first use: a verdict that needs no signature loads none of it.
        from harbourmaster.services.signing_trust import environment_trust

        trust = environment_trust(hm, environment, revision=snapshot.revision)
    keys = (
        {d.digest: _cache_key(trust, parse_reference(_scan_reference(d))) for d in judged if d.digest}
        if trust is not None
        else {}
    )
    # What the store knows of every digest, in one read.
    with hm.store.read() as tx:
        kept = tx.scans.latest([d.digest for d in judged if d.digest])
        verifications = tx.signing.cached_many(list(keys.items())) if keys else {}
        approved = tx.approved_content.approved_among(wanted) if wanted else frozenset()
    if policy.require_approved_content:
        # Judged with the source: what is not approved content is neither scanned nor verified.
        decisions = [approved_source(d, policy, approved) for d in decisions]
        judged = _to_judge(decisions)
        still = {d.digest for d in judged}
        keys = {digest: key for digest, key in keys.items() if digest in still}
    scans = facts_of(kept)
    attempts: dict[str, str] = {}
    if policy.unscanned is UnscannedRule.SCAN:
        missing = {
            d.digest: _scan_reference(d) for d in judged if d.digest is not None and d.digest not in scans
        }
        if missing and resolve:
            found, attempts = _scan_now(hm, principal, missing, budget)
            scans.update(found)
        elif missing:
            attempts = dict.fromkeys(missing, "the registry was not to be asked (resolve off)")
    signatures: dict[str, SignatureFacts] = {}
    if trust is not None:
        cached = {digest: verifications.get((digest, key)) for digest, key in keys.items()}
        signatures = _signature_facts(
            hm, trust, judged, cached, resolve=resolve, actor=principal.audit_name, budget=budget
        )
    verdicts = [
        image_verdict(
            d,
            policy=policy,
            allowlist=state.allowlist,
            today=today,
            scan=scans.get(d.digest) if d.digest else None,
            signature=signatures.get(d.digest) if d.digest else None,
            scan_attempt=(
                attempts.get(d.digest) if d.digest else "its digest is not known, so it cannot be scanned"
            ),
        )
        for d in decisions
    ]
    fingerprint = effective_policy(state, tier=env.tier, environment=env, today=today).fingerprint
    return Judged(verdicts, env.tier, fingerprint)


def approved_sources(hm: Harbourmaster, decisions: Sequence[Decision], *, environment: str) -> list[Decision]:
    """The source decisions under the approved-content rule of ``environment``'s tier (for a source-only
    decision, which :func:`judge` does not see), in one read of the store.  Never raises for what it
    finds."""
    state = hm.state()
    env = state.environment(environment)
    if env is None or not state.tiers[env.tier].require_approved_content:
        return list(decisions)
    policy = state.tiers[env.tier]
    wanted = {pair for d in decisions if (pair := approval_wanted(d, policy)) is not None}
    approved: frozenset[tuple[str, str]] = frozenset()
    if wanted:
        with hm.store.read() as tx:
            approved = tx.approved_content.approved_among(wanted)
    return [approved_source(d, policy, approved) for d in decisions]


def verdict_decisions(judged: Judged) -> list[Decision]:
    """The decisions as the verdicts have them: allowed only when every part allows, with every part's
    reasons, and the parts attached (``Decision.verdict``)."""
    out = []
    for verdict in judged.verdicts:
        parts = {
            "tier": judged.tier.value if judged.tier is not None else None,
            "policy_fingerprint": judged.policy_fingerprint,
            **verdict.parts(),
        }
        out.append(replace(verdict.decision, allowed=verdict.allowed, reasons=verdict.reasons, verdict=parts))
    return out
