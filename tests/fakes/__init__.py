"""In-memory fakes of every interface the core is built from, for unit tests (style rule 13).

* :class:`~tests.fakes.store.MemoryStore`: every repository, with the SQL store's meaning;
* :func:`~tests.fakes.vault.memory_vault`: the real envelope vault over a key held in memory;
* :func:`~tests.fakes.registry.registry_clients` and :class:`~tests.fakes.registry.FakeRegistry`:
  the real registry client over ``httpx.MockTransport``;
* :class:`~tests.fakes.clock.FixedClock`: time that moves when a test says so;
* :class:`~tests.fakes.notifier.RecordingNotifier`: keeps what it was asked to send;
* :func:`~tests.fakes.core.unit_core`: a core made of all of them.
"""
