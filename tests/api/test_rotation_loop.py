"""``serve`` rotates managed robots and raises expiry alerts every HARBOURMASTER_ROTATION_SECONDS (0: never):
a static credential inside its 14-day window is alerted once a day, audited and POSTed to the alert
notifier, whatever the number of passes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pytest
from fastapi.testclient import TestClient

from harbourmaster.api.app import create_app
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.notify.interface import Delivery, Notification, Notifier
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from tests.components import wait_until
from tests.fakes.clock import FixedClock
from tests.fakes.core import unit_core, unit_settings

DOCUMENT = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: lab
    provider: custom
    url: https://lab.example
    credential: {kind: robot, username: ci-bot, secret: env:HM_T_LAB_SECRET, expires: 2026-06-10}
"""


class Recorder(Notifier):
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notifications: Sequence[Notification]) -> list[Delivery]:
        self.sent.extend(notifications)
        return [Delivery(n.subject, True, "recorded") for n in notifications]


def site(clock: FixedClock, every: float, monkeypatch: pytest.MonkeyPatch) -> tuple[Harbourmaster, Recorder]:
    monkeypatch.setenv("HM_T_LAB_SECRET", "canary-lab-secret-5e1")
    settings = unit_settings(rotation_seconds=every, jit_reap_seconds=0, mirror_scheduler_seconds=0,
                             audit_checkpoint_interval=0)  # fmt: skip
    hm = unit_core(clock=clock, settings=settings)
    alerts = Recorder()
    hm.alert_notifier = alerts
    apply_document(hm, Principal("local:test", Role.ADMINISTRATOR), DOCUMENT, source="test.yaml",
                   host=hm.host_files())  # fmt: skip
    return hm, alerts


def expiring_records(hm: Harbourmaster) -> list[dict[str, object]]:
    with hm.store.read() as tx:
        return [dict(e.details) for e in tx.audit.entries() if e.action == "credential.expiring"]


def test_serve_alerts_on_an_expiring_credential_once_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FixedClock(dt.datetime(2026, 5, 20, 9, 0, tzinfo=dt.UTC))
    hm, alerts = site(clock, 0.05, monkeypatch)
    with TestClient(create_app(hm)) as client:
        loop = client.app.state.credential_rotation  # type: ignore[attr-defined]
        assert loop is not None and loop.interval == 0.05
        wait_until(lambda: loop.passes >= 2, timeout=10, what="two rotation passes")
        assert alerts.sent == [], "21 days left: outside the 14-day window"
        clock.set(dt.datetime(2026, 5, 30, 9, 0, tzinfo=dt.UTC))
        wait_until(lambda: bool(alerts.sent), timeout=10, what="the expiry alert")
        passes = loop.passes
        wait_until(lambda: loop.passes >= passes + 3, timeout=10, what="three more passes")
        assert len(alerts.sent) == 1, "once a day"
        clock.set(dt.datetime(2026, 5, 31, 9, 0, tzinfo=dt.UTC))
        wait_until(lambda: len(alerts.sent) == 2, timeout=10, what="the next day's alert")
    assert [n.subject for n in alerts.sent] == ["lab/ci-bot", "lab/ci-bot"]
    assert alerts.sent[0].payload["kind"] == "static"
    assert [r["days_left"] for r in expiring_records(hm)] == [11, 10]
    assert "canary-lab-secret-5e1" not in repr(alerts.sent)


def test_serve_without_rotation_when_the_interval_is_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    hm, _ = site(FixedClock(dt.datetime(2026, 5, 30, tzinfo=dt.UTC)), 0, monkeypatch)
    with TestClient(create_app(hm)) as client:
        assert client.app.state.credential_rotation is None  # type: ignore[attr-defined]
