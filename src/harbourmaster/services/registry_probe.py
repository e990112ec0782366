"""``registry test``: probe a registry with its stored credential (reachability, TLS, authentication,
API version, referrers support and latency), audited as ``registry.test``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.model import Registry
from harbourmaster.registry import (
    CredentialProvider,
    InsecureTransportRefused,
    ProbeFailure,
    ProbeReport,
    RegistryClientFactory,
    RegistryEndpoint,
    RegistryError,
    probe,
)
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_endpoints import OPERATION_OPTIONS, endpoint_for, provider_for, run_sync
from harbourmaster.services.registry_scope import named_registry, split_repository, within_scope
from harbourmaster.services.results import ProbeReportPublic
from harbourmaster.store.registry_test_interface import LastTest

__all__ = ["LastTestPublic", "last_tests", "test_registry"]


@dataclass(frozen=True, slots=True)
class LastTestPublic:
    """A registry's last "test connection": when, by whom, and what it found."""

    tested_at: dt.datetime
    tested_by: str
    ok: bool
    summary: str
    latency_ms: float | None


def _summary(report: ProbeReportPublic) -> str:
    """What a test found, in words: its first failure, or what worked."""
    if report.failures:
        first = report.failures[0]
        more = f" (and {len(report.failures) - 1} more)" if len(report.failures) > 1 else ""
        return f"{first.kind}: {first.message}{more}"
    return f"reachable, TLS {report.tls}, authentication {report.authentication}"


def last_tests(hm: Harbourmaster, principal: Principal) -> dict[str, LastTestPublic]:
    """Each registry's last whole-registry test, by name; a registry not tested since it was defined at
    its URL has none.  Raises Forbidden without ``governance.read``."""
    require(principal, Permission.GOVERNANCE_READ)
    state = hm.state()
    urls = {r.name: str(r.url) for r in state.registries}
    with hm.store.read() as tx:
        stored = tx.registry_tests.latest()
    return {
        name: LastTestPublic(tested_at=t.tested_at, tested_by=t.tested_by, ok=t.ok, summary=t.summary,
                             latency_ms=t.latency_ms)
        for name, t in stored.items() if urls.get(name) == t.url
    }  # fmt: skip


async def _probe(
    clients: RegistryClientFactory,
    registry: Registry,
    endpoint: RegistryEndpoint,
    provider: CredentialProvider,
    *,
    repository: str | None,
    development_only: bool,
) -> ProbeReport:
    report = await probe(
        endpoint, provider=provider, repository=repository, development_only=development_only, clients=clients
    )
    if repository is not None or not report.ok:
        return report
    # No repository named: find one in the registry's scope to learn whether it has the referrers API.
    async with clients.client(
        endpoint, provider=provider, options=OPERATION_OPTIONS, development_only=development_only
    ) as client:
        try:
            found = next((r for r in await client.catalog(limit=1000) if within_scope(registry, r)), None)
            if found is not None:
                report = replace(report, referrers_api=await client.referrers_supported(found))
        except RegistryError:
            pass  # no catalog (GHCR), or listing forbidden: referrers support stays unknown
    return report


def test_registry(
    hm: Harbourmaster, principal: Principal, name: str, *, repository: str | None = None
) -> ProbeReportPublic:
    """Probe registry ``name`` with its stored credential: reachability, TLS, authentication,
    API version, referrers support and latency; audited as ``registry.test``.

    Registry-side failures are in the report, not raised.

    Raises:
        Forbidden: ``principal`` may not probe registries.
        NotFound: no such registry.
        BadInput: ``repository`` is malformed or outside the registry's scope; the
            credential has expired or does not fit the provider.
    """
    require(principal, Permission.REGISTRY_PROBE)
    registry = named_registry(hm, name)
    repo = split_repository(registry, repository)[0] if repository else None
    actor = principal.audit_name
    endpoint, development_only = endpoint_for(hm, registry, actor=actor, purpose="registry.test")
    provider = provider_for(hm, registry, actor=actor, purpose="registry.test")
    try:
        report = run_sync(
            _probe(
                hm.registry_clients,
                registry,
                endpoint,
                provider,
                repository=repo,
                development_only=development_only,
            )
        )
    except InsecureTransportRefused as exc:
        report = ProbeReport(
            registry=endpoint.host, failures=(ProbeFailure(exc.kind, exc.message, tuple(exc.details)),)
        )
    public = ProbeReportPublic.model_validate(report)
    with hm.store.transaction() as tx:
        if repository is None:  # the whole registry's test: what its list shows as the last result
            tx.registry_tests.record(LastTest(
                registry=name, url=str(registry.url), tested_at=hm.clock.now(), tested_by=actor,
                ok=report.ok, summary=_summary(public), latency_ms=public.latency_ms,
            ))  # fmt: skip
        tx.audit.append(
            actor=actor,
            action="registry.test",
            target=name,
            result="ok" if report.ok else "failed",
            details=public.model_dump(mode="json", exclude={"registry", "ok"}),
        )
    return public


test_registry.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
