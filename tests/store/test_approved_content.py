"""The approved content repository on SQLite and PostgreSQL, and its in-memory fake, alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace

from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.approved_content_interface import ApprovedImage
from harbourmaster.store.interface import Repositories
from tests.fakes.clock import FixedClock
from tests.fakes.store import MemoryStore

AT = dt.datetime(2026, 11, 30, 1, 0, tzinfo=dt.UTC)


def _image(repository: str, digest: str, *tags: str, bundle: str = "a" * 64) -> ApprovedImage:
    return ApprovedImage(
        registry="airgapped",
        repository=repository,
        digest=f"sha256:{digest * 64}",
        tags=tags,
        bundle_sha256=bundle,
        imported_by="local:test",
        imported_at=AT,
    )


def _exercise(transaction: Callable[[], AbstractContextManager[Repositories]]) -> None:
    with transaction() as tx:
        tx.approved_content.record([_image("team/app", "1", "v1"), _image("team/lib", "2", "v2")])
    with transaction() as tx:
        tx.approved_content.record([_image("team/app", "1", "v1", "stable", bundle="b" * 64)])
        tx.approved_content.record([replace(_image("x", "3"), registry="other")])
    with transaction() as tx:
        approved = tx.approved_content.approved("airgapped")
        assert [(a.repository, a.tags, a.bundle_sha256) for a in approved] == [
            ("team/app", ("v1", "stable"), "b" * 64),
            ("team/lib", ("v2",), "a" * 64),
        ]
        assert approved[0].imported_at == AT and approved[0].emergency is False
        assert tx.approved_content.approved_digests("airgapped") == {
            f"sha256:{'1' * 64}",
            f"sha256:{'2' * 64}",
        }
        assert tx.approved_content.approved_digests("nowhere") == frozenset()
        # What a verdict asks, for every image at once: a digest counts only for its own registry.
        one, three = f"sha256:{'1' * 64}", f"sha256:{'3' * 64}"
        assert tx.approved_content.approved_among(
            {("airgapped", one), ("airgapped", three), ("other", three), ("other", one), ("nowhere", one)}
        ) == {("airgapped", one), ("other", three)}
        assert tx.approved_content.approved_among(set()) == frozenset()


def test_an_import_replaces_the_row_of_the_same_image_and_keeps_the_others(hm: Harbourmaster) -> None:
    _exercise(hm.store.transaction)


def test_the_fake_behaves_as_the_database() -> None:
    _exercise(MemoryStore(FixedClock(AT)).transaction)
