"""The in-memory job repository keeps the SQL one's meaning: it passes the same tests."""

from __future__ import annotations

import pytest

from harbourmaster.services.core import Harbourmaster
from tests.fakes.core import unit_core
from tests.store.test_job_repository import (  # noqa: F401 - collected here, on the fakes
    test_a_failed_attempt_is_queued_again_until_the_attempts_run_out,
    test_a_job_abandoned_on_every_attempt_ends_failed,
    test_an_expired_lease_makes_the_job_claimable_again,
    test_claims_take_the_oldest_job_of_the_kinds_asked_and_count_the_attempt,
    test_complete_keeps_the_result_for_the_owner_only,
    test_enqueue_get_and_recent,
    test_only_the_owner_extends_the_lease_and_records_progress,
)


@pytest.fixture
def hm() -> Harbourmaster:
    return unit_core()
