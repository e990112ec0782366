"""Pinning allowed decisions to digests, cheaply.

:func:`resolve_decision_digests` asks each registry (with the credential of the
registry the decision names) which digest an allowed image's tag points to now.
A decision never fails or waits long because of this: connections time out
after 2 s, answers are cached for :data:`DIGEST_TTL` seconds, and a registry
that could not be reached is not tried again for :data:`UNREACHABLE_TTL`
seconds, so a check does not pay a DNS or connect timeout on every call.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from typing import Any, Generic, TypeVar

from harbourmaster.domain.decision import Decision, GovernanceSnapshot
from harbourmaster.domain.reference import ImageReference, parse_reference
from harbourmaster.errors import Error
from harbourmaster.registry import (
    ClientOptions,
    ConnectionRefused,
    CredentialProvider,
    NameResolutionFailed,
    RegistryClient,
    RegistryClientFactory,
    RegistryEndpoint,
    RegistryError,
    RegistryTimeout,
    RegistryUnavailable,
    TlsUntrusted,
    resolve_digest,
)
from harbourmaster.services.budgets import RequestBudget
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_endpoints import (
    endpoint_for,
    granted_beyond_development,
    provider_for,
    registry_host,
    run_sync,
)

__all__ = [
    "DIGEST_TTL",
    "UNREACHABLE_TTL",
    "clear_registry_caches",
    "remember_digest",
    "resolve_decision_digests",
]

#: How long a tag-to-digest answer is reused by decisions (seconds).
DIGEST_TTL = 60.0
#: How long a registry that could not be reached is not tried again by decisions (seconds).
UNREACHABLE_TTL = 30.0
#: Decisions wait briefly: resolution is a bonus, never a reason to be slow.
DECISION_OPTIONS = ClientOptions(connect_timeout=2.0, read_timeout=5.0, max_retries=0)
DECISION_BUDGET = 6.0
#: The failures that mean "cannot reach the registry at all" (negative-cached).
_UNREACHABLE = (NameResolutionFailed, ConnectionRefused, RegistryTimeout, TlsUntrusted, RegistryUnavailable)

K = TypeVar("K")
V = TypeVar("V")


class _TtlCache(Generic[K, V]):
    """A small thread-safe map whose entries expire ``ttl`` seconds after they were put."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._items: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] <= time.monotonic():
                del self._items[key]
                return None
            return item[1]

    def put(self, key: K, value: V) -> None:
        with self._lock:
            if len(self._items) > 10_000:
                now = time.monotonic()
                self._items = {k: v for k, v in self._items.items() if v[0] > now}
            self._items[key] = (time.monotonic() + self.ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


#: (registry name, host, repository, tag) -> digest
_digests: _TtlCache[tuple[str, str, str, str], str] = _TtlCache(DIGEST_TTL)
#: (registry name, host) -> why it could not be reached
_unreachable: _TtlCache[tuple[str, str], str] = _TtlCache(UNREACHABLE_TTL)


def clear_registry_caches() -> None:
    """Forget every cached digest and every registry marked unreachable."""
    _digests.clear()
    _unreachable.clear()


def remember_digest(*, registry: str, host: str, repository: str, tag: str, digest: str) -> None:
    """Record what ``tag`` pointed to just now (``resolve`` shares what it learns with decisions)."""
    _digests.put((registry, host, repository, tag), digest)


async def _resolve_many(
    clients: RegistryClientFactory,
    endpoint: RegistryEndpoint,
    provider: CredentialProvider,
    development_only: bool,
    wanted: Sequence[tuple[str, str]],
) -> list[str | RegistryError]:
    async def one(client: RegistryClient, path: str, tag: str) -> str | RegistryError:
        try:
            return str(await resolve_digest(client, path, tag))
        except RegistryError as exc:
            return exc

    try:
        async with clients.client(
            endpoint, provider=provider, options=DECISION_OPTIONS, development_only=development_only
        ) as client:
            return list(
                await asyncio.wait_for(
                    asyncio.gather(*(one(client, p, t) for p, t in wanted)), timeout=DECISION_BUDGET
                )
            )
    except RegistryError as exc:
        return [exc] * len(wanted)
    except TimeoutError:
        late = RegistryTimeout(f"no answer within {DECISION_BUDGET:.0f} s", registry=endpoint.host)
        return [late] * len(wanted)


async def _gather(
    jobs: list[Coroutine[Any, Any, list[str | RegistryError]]], timeout: float | None = None
) -> list[list[str | RegistryError]]:
    if timeout is None:
        return list(await asyncio.gather(*jobs))
    return list(await asyncio.wait_for(asyncio.gather(*jobs), timeout=timeout))


def resolve_decision_digests(
    hm: Harbourmaster,
    decisions: Sequence[Decision],
    *,
    actor: str,
    ask_registries: bool = True,
    snapshot: GovernanceSnapshot | None = None,
    budget: RequestBudget | None = None,
) -> tuple[list[Decision], list[str | None]]:
    """Pin each allowed decision to the digest its tag points to now, where the registry answers.

    Returns the decisions (with ``digest`` filled where known) and, per decision, why its
    digest is unknown (None when it is known or was not wanted).  Never raises for a
    registry failure: a decision never fails because resolution did.  Uses the caches
    described in the module documentation; credentials are opened (audited, purpose
    ``decision.resolve``) only for registries that are asked.  Without
    ``ask_registries`` only images given by digest are pinned.  ``snapshot`` is the one
    the decisions were taken on (read from ``hm`` when needed and not given).  With ``budget``,
    registries are asked for what is left of it at most; a tag not pinned by then carries the reason.
    """
    out = list(decisions)
    errors: list[str | None] = [None] * len(out)
    pending: dict[str, list[tuple[int, ImageReference]]] = {}
    for i, d in enumerate(out):
        if not d.allowed or d.registry is None or d.normalized is None:
            continue
        ref = parse_reference(d.normalized)
        if ref.digest is not None:
            out[i] = replace(d, digest=ref.digest)
            continue
        if not ask_registries:
            continue
        snapshot = snapshot or hm.snapshot()
        registry = snapshot.registries.get(d.registry)
        if registry is None:
            continue
        host = registry_host(registry)
        cached = _digests.get((registry.name, host, ref.path, ref.tag or "latest"))
        if cached is not None:
            out[i] = replace(d, digest=cached)
            continue
        down = _unreachable.get((registry.name, host))
        if down is not None:
            errors[i] = f"{down} (not retried for up to {UNREACHABLE_TTL:.0f} s)"
            continue
        pending.setdefault(registry.name, []).append((i, ref))
    if not pending:
        return out, errors
    assert snapshot is not None
    beyond_development = granted_beyond_development(snapshot)
    batches: list[tuple[str, list[tuple[int, ImageReference]]]] = []
    jobs: list[Coroutine[Any, Any, list[str | RegistryError]]] = []
    for name, items in pending.items():
        registry = snapshot.registries[name]
        try:
            endpoint, development_only = endpoint_for(
                hm,
                registry,
                actor=actor,
                purpose="decision.resolve",
                development_only=name not in beyond_development,
            )
            provider = provider_for(hm, registry, actor=actor, purpose="decision.resolve")
        except Error as exc:
            for i, _ in items:
                errors[i] = exc.message
            continue
        batches.append((name, items))
        jobs.append(
            _resolve_many(
                hm.registry_clients,
                endpoint,
                provider,
                development_only,
                [(r.path, r.tag or "latest") for _, r in items],
            )
        )
    try:
        answers = run_sync(_gather(jobs, None if budget is None else budget.remaining())) if jobs else []
    except TimeoutError:
        assert budget is not None
        for _, items in batches:
            for i, _ in items:
                errors[i] = budget.ran_out("no digest from the registry")
        return out, errors
    except Exception as exc:
        # A decision never fails because pinning did; the type names the defect without
        # quoting anything a lower layer might have put in its message.
        for job in jobs:
            job.close()
        for _, items in batches:
            for i, _ in items:
                errors[i] = f"digest resolution failed unexpectedly ({type(exc).__name__})"
        return out, errors
    for (name, items), results in zip(batches, answers, strict=True):
        host = registry_host(snapshot.registries[name])
        for (i, ref), result in zip(items, results, strict=True):
            if isinstance(result, str):
                _digests.put((name, host, ref.path, ref.tag or "latest"), result)
                out[i] = replace(out[i], digest=result)
                continue
            errors[i] = result.message
            if isinstance(result, _UNREACHABLE):
                _unreachable.put((name, host), result.message)
    return out, errors
