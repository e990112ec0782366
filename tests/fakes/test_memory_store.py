"""The in-memory store keeps the SQL store's meaning: it passes the SQL store's own repository tests
(those that do not reach around the store into the database), imported here and run on a core made of
fakes; and a unit of work on it is all or nothing, as a transaction."""

from __future__ import annotations

import pytest

from harbourmaster.domain.model import Role, User
from harbourmaster.errors import Error
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.interface import StoreError
from tests.fakes.core import unit_core
from tests.store.test_advisory_repository import (  # noqa: F401 - collected here, on the fakes
    test_batches_insert_replace_newer_and_leave_the_rest,
    test_look_ups_are_chunked,
    test_matches_are_recorded_once_and_read_back_with_their_image,
)
from tests.store.test_audit_repository import (  # noqa: F401
    test_append_chains_after_the_head_and_moves_it,
    test_entries_are_read_from_any_point_in_batches,
    test_nothing_to_append_writes_nothing,
)
from tests.store.test_image_names import (  # noqa: F401
    test_a_failed_unit_of_work_records_nothing,
    test_names_are_recorded_once_each_and_their_last_sighting_moves,
)
from tests.store.test_sbom_repository import (  # noqa: F401
    test_a_second_sbom_for_the_same_image_format_and_platform_replaces_the_first,
    test_components_by_name_namespace_and_source_package,
    test_images_of_stored_sboms,
    test_newest_by_digest_and_format,
    test_replace_keeps_the_document_and_its_index,
)
from tests.store.test_sql_store import (  # noqa: F401
    test_sealed_blobs_are_stored_kept_cleared_and_rewrapped,
    test_the_lock_holds_other_writers_until_the_transaction_ends,
    test_the_revision_counts_saves,
)
from tests.store.test_token_repository import (  # noqa: F401
    test_a_users_tokens_go_with_the_user,
    test_create_find_get_and_list,
    test_touch_and_revoke,
)


class Boom(Error):
    pass


@pytest.fixture
def hm() -> Harbourmaster:
    """What the SQL store's tests call ``hm``: an initialised core, here made of fakes."""
    return unit_core()


def _snapshot(hm: Harbourmaster) -> tuple[object, ...]:
    with hm.store.read() as tx:
        return tx.governance.load(), tx.governance.revision(), tx.audit.head(), tx.tokens.tokens()


def test_a_unit_of_work_is_all_or_nothing(hm: Harbourmaster) -> None:
    before = _snapshot(hm)
    with pytest.raises(Boom), hm.store.transaction() as tx:
        state = tx.governance.load()
        tx.governance.save(state.evolve(users=(*state.users, User("ann", Role.AUDITOR))))
        assert tx.tokens.create(user="ann", name="t", token_hash="h1", created_at=hm.clock.now(),
                                expires_at=hm.clock.now())
        tx.audit.append(actor="t", action="test.event", target="t")
        raise Boom("after every write")
    assert _snapshot(hm) == before
    with hm.store.read() as tx:
        tx.audit.append(actor="t", action="test.event", target="t")  # a read's writes are thrown away
    assert _snapshot(hm) == before


def test_a_write_inside_a_write_on_the_same_thread_is_refused(hm: Harbourmaster) -> None:
    nested = pytest.raises(StoreError, match="inside another one")
    with hm.store.transaction(), nested, hm.store.transaction():
        pass
    with hm.store.transaction(), hm.store.read() as tx:  # reads run beside a writer
        assert tx.governance.revision() >= 1


def test_a_token_hash_is_stored_once(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        state = tx.governance.load()
        tx.governance.save(state.evolve(users=(*state.users, User("ann", Role.AUDITOR))))
    now = hm.clock.now()
    with pytest.raises(StoreError, match="IntegrityError"), hm.store.transaction() as tx:
        tx.tokens.create(user="ann", name="a", token_hash="same", created_at=now, expires_at=now)
        tx.tokens.create(user="ann", name="b", token_hash="same", created_at=now, expires_at=now)
    with hm.store.read() as tx:
        assert tx.tokens.tokens(user="ann") == []
