"""The repositories and tags an image digest was seen under, kept by digest on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.values import ImageName

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64
T0 = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


def test_names_are_recorded_once_each_and_their_last_sighting_moves(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        tx.sboms.record_name(image_digest=A, repository="reg.example/team/app", tag="v1", seen_at=T0)
        tx.sboms.record_name(image_digest=A, repository="reg.example/mirror/app", tag="v2", seen_at=T0)
        tx.sboms.record_name(image_digest=A, repository="reg.example/team/app", tag=None, seen_at=T0)
        tx.sboms.record_name(image_digest=B, repository="reg.example/team/other", tag="v1", seen_at=T0)
    later = T0 + dt.timedelta(hours=3)
    with hm.store.transaction() as tx:  # seen again: one row, a later last sighting
        tx.sboms.record_name(image_digest=A, repository="reg.example/team/app", tag="v1", seen_at=later)
    with hm.store.read() as tx:
        names = tx.sboms.names([A, "sha256:" + "c" * 64])
    assert list(names) == [A]  # a digest never seen under a name is absent
    assert names[A] == [
        ImageName(repository="reg.example/mirror/app", tag="v2", first_seen=T0, last_seen=T0),
        ImageName(repository="reg.example/team/app", tag=None, first_seen=T0, last_seen=T0),
        ImageName(repository="reg.example/team/app", tag="v1", first_seen=T0, last_seen=later),
    ]
    assert [str(n) for n in names[A]] == ["reg.example/mirror/app:v2", "reg.example/team/app",
                                          "reg.example/team/app:v1"]


def test_a_failed_unit_of_work_records_nothing(hm: Harbourmaster) -> None:
    try:
        with hm.store.transaction() as tx:
            tx.sboms.record_name(image_digest=A, repository="reg.example/team/app", tag="v1", seen_at=T0)
            raise RuntimeError("the operation failed after recording")
    except RuntimeError:
        pass
    with hm.store.read() as tx:
        assert tx.sboms.names([A]) == {}
