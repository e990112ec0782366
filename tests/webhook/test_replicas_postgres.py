"""Replicas in step: two ``webhook serve`` processes on one PostgreSQL both enforce a revoked grant
within a second of the ``apply`` that revokes it (each follows the model's NOTIFYs)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import pytest

from tests.integration.postgres import core_on
from tests.webhook.conftest import (
    Site,
    TlsPair,
    apply_text,
    governance,
    pod,
    review,
    running_webhook,
    site_env,
)

pytestmark = pytest.mark.integration


def test_two_replicas_enforce_a_revoked_grant_within_a_second(
    postgres_url: str, site: Site, tls_pair: TlsPair, tmp_path: Path
) -> None:
    home = tmp_path / "pg-home"
    env = site_env(home, {"HARBOURMASTER_DATABASE_URL": postgres_url})
    core_on(postgres_url, home)
    apply_text(env, governance(site.registry.host, site.stall))
    body = review(pod(f"{site.image}@{site.digest}"), kind=("", "v1", "Pod"))
    with contextlib.ExitStack() as stack:
        replicas = [
            stack.enter_context(running_webhook(env, tls_pair, tmp_path / f"replica-{i}.log")) for i in (1, 2)
        ]
        for replica in replicas:
            assert replica.post("/validate/dev", body).json()["response"]["allowed"] is True
        apply_text(env, governance(site.registry.host, site.stall, grant_real=False), prune=True)
        revoked = time.monotonic()
        pending = list(replicas)
        while pending:
            assert time.monotonic() - revoked < 1.0, "a replica still allows the revoked grant after 1 s"
            pending = [r for r in pending if r.post("/validate/dev", body).json()["response"]["allowed"]]
            time.sleep(0.02)
