"""A core made of fakes: the in-memory store, the envelope vault over an in-memory key, registries
behind ``httpx.MockTransport``, a fixed clock and a recording notifier.  No file, no socket."""

from __future__ import annotations

from pathlib import Path

from harbourmaster.clock import Clock
from harbourmaster.identity.http import HttpxIdentityHttp
from harbourmaster.notify.interface import Notifier
from harbourmaster.registry.interface import RegistryClientFactory
from harbourmaster.services.core import Harbourmaster
from harbourmaster.settings import Settings
from tests.fakes.clock import FixedClock
from tests.fakes.notifier import RecordingNotifier
from tests.fakes.registry import FakeRegistry, registry_clients
from tests.fakes.store import MemoryStore
from tests.fakes.vault import memory_vault

__all__ = ["NO_HOME", "unit_core", "unit_settings"]

#: The data directory of a unit core: it does not exist, and nothing may create it.
NO_HOME = Path("/nonexistent/harbourmaster-unit-test-home")


def unit_settings(**values: object) -> Settings:
    """Settings read from nowhere (no environment variable), with a data directory that does not exist."""
    return Settings(home=NO_HOME, **values)  # type: ignore[arg-type]


def unit_core(
    *,
    clock: Clock | None = None,
    registries: tuple[FakeRegistry, ...] = (),
    clients: RegistryClientFactory | None = None,
    notifier: Notifier | None = None,
    settings: Settings | None = None,
) -> Harbourmaster:
    """A core on fakes, prepared as ``harbourmaster init`` would (the built-in anonymous Docker Hub
    registry, and the ``system.init`` audit record)."""
    clock = clock or FixedClock()
    hm = Harbourmaster(
        settings or unit_settings(),
        store=MemoryStore(clock),
        vault=memory_vault(),
        registry_clients=clients or registry_clients(*registries),
        clock=clock,
        notifier=notifier or RecordingNotifier(),
        # Real HTTP, to a local stand-in OpenID provider in the OIDC tests (nothing else uses it).
        identity_http=HttpxIdentityHttp(),
    )
    hm.prepare_model(target="memory", details={"store": "memory"})
    return hm
