"""``serve`` keeps its long-lived objects out of the garbage collector's full passes: frozen at start-up
with the model loaded, again every FREEZE_EVERY seconds, thawed for one full pass every THAW_EVERY."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from harbourmaster.api.app import create_app
from harbourmaster.api.lifespan import HeapFreezer
from tests.fakes.core import unit_core


@pytest.fixture(autouse=True)
def _thawed_after() -> Iterator[None]:
    yield
    gc.unfreeze()  # the test process is not serve's: give it back its collector


def test_only_serve_freezes_and_the_model_is_frozen_at_start_up() -> None:
    hm = unit_core()
    gc.unfreeze()
    with TestClient(create_app(hm)) as client:  # embedded elsewhere (tests): nothing frozen
        assert client.app.state.heap_freezer is None  # type: ignore[attr-defined]
        assert gc.get_freeze_count() == 0
    with TestClient(create_app(hm, freeze_heap=True)) as client:
        freezer = client.app.state.heap_freezer  # type: ignore[attr-defined]
        assert isinstance(freezer, HeapFreezer)
        assert freezer.loop.interval == HeapFreezer.FREEZE_EVERY and freezer.loop.name == "heap-freezer"
        _, state = hm.current()
        assert gc.get_freeze_count() > 0
        assert gc.is_tracked(state)
        assert all(o is not state for o in gc.get_objects(generation=2))  # frozen: no pass examines it


def test_a_pass_collects_garbage_before_freezing_and_thaws_once_an_hour() -> None:
    hm = unit_core()
    freezer = HeapFreezer(hm)
    gc.unfreeze()

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    garbage = Cycle()
    dead = weakref.ref(garbage)
    del garbage
    first = freezer.freeze()
    assert dead() is None, "garbage is collected, never frozen"
    assert first == gc.get_freeze_count() > 0

    kept = Cycle()
    lost = weakref.ref(kept)
    freezer.freeze()  # kept is frozen now
    del kept
    freezer.freeze()
    assert lost() is not None, "a frozen cycle that died waits for the hourly thaw"
    freezer._thawed_at -= HeapFreezer.THAW_EVERY  # an hour later
    freezer.freeze()
    assert lost() is None, "the hourly thaw collects it"
