"""A managed Harbor end to end: ``harbor sync``, drift in ``policy diff --harbor``, robot rotation under
load, a refused rotation, the grace period and retirement, and expiry alerts.

Harbor itself cannot run here: the HTTP STAND-IN of its v2.0 API (:mod:`tests.harbor_standin`) answers
the API on the same host that relays ``/v2`` to a real distribution registry, whose htpasswd it rewrites
as robots come and go; so a robot minted or rotated through harbourmaster really authenticates pulls
there, and a retired one is really refused.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from harbourmaster.api.app import create_app
from harbourmaster.bootstrap import build
from harbourmaster.cli.main import app
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.harbor import PULL_ROBOT, PUSH_ROBOT
from harbourmaster.domain.model import Role
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput
from harbourmaster.notify.interface import Delivery, Notification, Notifier
from harbourmaster.registry import AuthenticationFailed, RegistryEndpoint, TransportSecurity, UsernamePassword
from harbourmaster.registry.client import RegistryClient
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import use_credential
from harbourmaster.services.harbor_sync import harbor_sync
from harbourmaster.services.policy_export import diff_policy
from harbourmaster.services.robot_rotation import credential_expiries, rotate_credential, rotation_tick
from harbourmaster.services.tokens import issue_token
from harbourmaster.settings import Settings
from harbourmaster.vault.interface import VaultError
from tests.components import stop_process, wait_until
from tests.fakes.clock import FixedClock
from tests.harbor_standin import HarborStandIn
from tests.integration.registry_fixtures import RunningRegistry, skopeo, start_registry, write_image_layout

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "canary-harbor-admin-3f9e2a71"
ADMIN = Principal("admin", Role.ADMINISTRATOR)

GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: harbor-payments
    provider: harbor
    url: http://{host}
    scope: payments
    tls: {{insecure: true}}
    credential: {{kind: user, username: admin, secret: env:HM_TEST_HARBOR_ADMIN}}
    manage: true
    management:
      robot_lifetime_days: 90
      rotate_at: 0.5
      alert_days: 14
      robots:
        - {{name: ci, access: push, lifetime_days: 30, description: CI pushes}}
environments:
  - {{name: dev, kind: docker-standalone, tier: development}}
users:
  - name: dev-user
  - {{name: ops, role: administrator}}
access:
  - {{environment: dev, user: dev-user}}
grants:
  - {{registry: harbor-payments, environment: dev, users: [dev-user]}}
tiers:
  development: {{block_severity: high, require_signature: true}}
allowlist:
  - {{id: CVE-2023-4911, registry: harbor-payments, expires: 2030-03-31, reason: no setuid binaries}}
"""


class Recorder(Notifier):
    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notifications: Any) -> list[Delivery]:
        self.sent.extend(notifications)
        return [Delivery(n.subject, True, "recorded") for n in notifications]


@dataclass
class Site:
    registry: RunningRegistry
    harbor: HarborStandIn
    hm: Harbourmaster
    clock: FixedClock
    alerts: Recorder


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    reg = start_registry(tmp_path / "registry", auth="htpasswd")
    try:
        write_image_layout(tmp_path / "layout", tag="v1")
        skopeo(reg, "copy", f"oci:{tmp_path / 'layout'}:v1", f"docker://{reg.host}/payments/api:v1")
        with HarborStandIn(admin_password=ADMIN_PASSWORD, htpasswd=reg.root / "htpasswd",
                           registry=reg.host) as harbor:  # fmt: skip
            monkeypatch.setenv("HM_TEST_HARBOR_ADMIN", ADMIN_PASSWORD)
            monkeypatch.setenv("HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG", "")
            monkeypatch.setenv("HARBOURMASTER_ROBOT_GRACE_SECONDS", "600")
            clock = FixedClock(dt.datetime.now(dt.UTC))
            harbor.clock = lambda: clock.now().timestamp()
            alerts = Recorder()
            hm = build(Settings.from_environ(), clock=clock)
            hm.alert_notifier = alerts
            hm.init()
            apply_document(hm, ADMIN, GOVERNANCE.format(host=harbor.host), source="test.yaml",
                           host=hm.host_files())  # fmt: skip
            yield Site(reg, harbor, hm, clock, alerts)
            hm.db.dispose()
    finally:
        assert reg.proc is not None
        stop_process(reg.proc)


def pulls(site: Site, username: str, secret: Secret) -> bool:
    """Whether the credential fetches payments/api:v1 and its config through the Harbor host."""

    async def fetch() -> bool:
        endpoint = RegistryEndpoint(site.harbor.host, TransportSecurity(plain_http=True))
        async with RegistryClient(endpoint, provider=UsernamePassword(username, secret),
                                  development_only=True) as client:  # fmt: skip
            try:
                manifest = await client.get_manifest("payments/api", "v1")
            except AuthenticationFailed:
                return False
        return bool(manifest.raw)

    return asyncio.run(asyncio.wait_for(fetch(), timeout=60))


def deploy_pull(site: Site, n: int) -> str:
    """What a deployment does: open the registry's credential (the pull robot) and pull with it."""
    use = use_credential(site.hm, registry="harbor-payments", actor="dev-user", purpose=f"deploy {n}")
    assert use is not None
    if not pulls(site, use.username, use.secret):
        raise AssertionError(f"pull {n} with {use.username} was refused")
    return use.username


def test_sync_creates_the_project_settings_and_robots_and_a_second_run_changes_nothing(site: Site) -> None:
    dry = harbor_sync(site.hm, ADMIN, "harbor-payments", dry_run=True)
    assert [(a.action, a.target) for a in dry.actions] == [
        ("create-project", "payments"),
        ("create-robot", PULL_ROBOT), ("create-robot", PUSH_ROBOT), ("create-robot", "ci"),
    ]  # fmt: skip
    assert site.harbor.projects == {} and site.harbor.robots == {}, "a dry run changes nothing"

    done = harbor_sync(site.hm, ADMIN, "harbor-payments")
    assert [a.action for a in done.actions] == [a.action for a in dry.actions]
    (project,) = site.harbor.projects.values()
    assert project.name == "payments"
    assert project.metadata == {
        "public": "false", "auto_scan": "true", "prevent_vul": "true", "severity": "high",
        "enable_content_trust_cosign": "true", "reuse_sys_cve_allowlist": "false",
    }  # fmt: skip
    assert [i["cve_id"] for i in project.allowlist["items"]] == ["CVE-2023-4911"]
    robots = {r.name: r for r in site.harbor.robots.values()}
    assert set(robots) == {"robot$payments+harbourmaster-pull-1", "robot$payments+harbourmaster-push-1",
                           "robot$payments+ci-1"}  # fmt: skip
    pull = robots["robot$payments+harbourmaster-pull-1"]
    assert {a["action"] for p in pull.permissions for a in p["access"]} == {"pull"}
    assert {p["namespace"] for p in pull.permissions} == {"payments"}
    assert pull.duration == 90 and robots["robot$payments+ci-1"].duration == 30

    again = harbor_sync(site.hm, ADMIN, "harbor-payments")
    assert again.actions == [], "sync is idempotent"
    assert len(site.harbor.robots) == 3

    # Pulls go through the pull robot; the administrator's password never leaves for a pull.
    assert deploy_pull(site, 1) == "robot$payments+harbourmaster-pull-1"
    push = use_credential(site.hm, registry="harbor-payments", actor="admin", purpose="image.sign")
    assert push is not None and push.username == "robot$payments+harbourmaster-push-1"


def test_a_managed_registry_without_robots_refuses_pulls_with_the_remedy(site: Site) -> None:
    with pytest.raises(BadInput, match="harbor sync --registry harbor-payments"):
        use_credential(site.hm, registry="harbor-payments", actor="dev-user", purpose="deploy 1")


def test_a_drifted_project_is_reported_by_policy_diff_then_fixed_by_sync(site: Site) -> None:
    harbor_sync(site.hm, ADMIN, "harbor-payments")
    assert diff_policy(site.hm, ADMIN, environment="dev", harbor=True).mismatches == []
    (project,) = site.harbor.projects.values()
    project.metadata["severity"] = "critical"
    project.metadata["enable_content_trust_cosign"] = "false"
    project.allowlist["items"].append({"cve_id": "CVE-2021-44228"})

    report = diff_policy(site.hm, ADMIN, environment="dev", harbor=True)
    details = sorted(m.detail for m in report.mismatches)
    assert report.layers == ["harbor"]
    assert details == [
        "cve_allowlist is CVE-2021-44228,CVE-2023-4911; the model wants CVE-2023-4911",
        "enable_content_trust_cosign is false; the model wants true",
        "severity is critical; the model wants high",
    ]
    result = CliRunner().invoke(app, ["policy", "diff", "--env", "dev", "--harbor"])
    assert result.exit_code == 1, result.output
    assert "severity is critical" in result.output

    fixed = harbor_sync(site.hm, ADMIN, "harbor-payments", dry_run=False)
    assert [a.action for a in fixed.actions] == ["update-project"]
    assert {c.setting for c in fixed.actions[0].changes} == {"severity", "enable_content_trust_cosign",
                                                              "cve_allowlist"}  # fmt: skip
    assert diff_policy(site.hm, ADMIN, environment="dev", harbor=True).mismatches == []
    assert CliRunner().invoke(app, ["policy", "diff", "--env", "dev", "--harbor"]).exit_code == 0


def test_a_robot_deleted_or_narrowed_in_harbor_is_replaced(site: Site) -> None:
    harbor_sync(site.hm, ADMIN, "harbor-payments")
    by_name = {r.name: r for r in site.harbor.robots.values()}
    del site.harbor.robots[by_name["robot$payments+ci-1"].robot_id]
    by_name["robot$payments+harbourmaster-push-1"].permissions[0]["access"] = [
        {"resource": "repository", "action": "pull"}
    ]
    result = harbor_sync(site.hm, ADMIN, "harbor-payments")
    assert sorted((a.action, a.target, a.reason) for a in result.actions) == [
        ("replace-robot", "robot$payments+ci-1", "deleted in Harbor"),
        ("replace-robot", "robot$payments+harbourmaster-push-1",
         "permissions drifted in Harbor (payments:pull)"),
    ]  # fmt: skip
    names = {r.name for r in site.harbor.robots.values()}
    assert names == {"robot$payments+harbourmaster-pull-1", "robot$payments+harbourmaster-push-2",
                     "robot$payments+ci-2"}  # fmt: skip
    assert harbor_sync(site.hm, ADMIN, "harbor-payments").actions == []


def test_rotation_under_load_fails_no_pull_and_the_old_robot_retires_after_its_grace(site: Site) -> None:
    harbor_sync(site.hm, ADMIN, "harbor-payments")
    stop = threading.Event()
    failures: list[str] = []
    used: list[str] = []

    def puller(worker: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                used.append(deploy_pull(site, worker * 1000 + n))
            except Exception as exc:  # every failure is collected and fails the test below
                failures.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=puller, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(3):
            result = rotate_credential(site.hm, ADMIN, "harbor-payments", robot=PULL_ROBOT)
            assert [r.outcome for r in result.robots] == ["rotated"]
            new = result.robots[0].username
            # Pulls go on with the new robot (and those in flight with the old one finish).
            wait_until(lambda new=new: used.count(new) >= 6 or bool(failures), timeout=60,  # type: ignore[misc]
                       what=f"six pulls with {new}")  # fmt: skip
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert failures == []
    assert len(used) >= 18
    assert {u.rsplit("-", 1)[1] for u in used} >= {"1", "2", "3", "4"}, "pulls crossed every rotation"

    old = [r for r in site.harbor.robots.values() if "harbourmaster-pull" in r.name]
    assert len(old) == 4, "replaced generations work until their grace ends"
    assert all(pulls(site, r.name, Secret(r.secret)) for r in old)

    site.clock.advance(dt.timedelta(seconds=601))
    report = rotation_tick(site.hm)
    assert sorted(report.retired) == [f"robot$payments+harbourmaster-pull-{g}" for g in (1, 2, 3)]
    (current,) = [r for r in site.harbor.robots.values() if "harbourmaster-pull" in r.name]
    assert current.name.endswith("-4")
    assert not any(pulls(site, r.name, Secret(r.secret)) for r in old if r is not current)
    assert deploy_pull(site, 99) == current.name


def test_a_refused_rotation_keeps_the_old_secret_and_says_why(site: Site) -> None:
    harbor_sync(site.hm, ADMIN, "harbor-payments")
    site.harbor.admin_password = "changed-behind-harbourmasters-back"
    result = CliRunner().invoke(app, ["credentials", "rotate", "harbor-payments", "--robot", PULL_ROBOT])
    assert result.exit_code == 3, result.output
    assert "failed" in result.output and "401" in result.output
    assert ADMIN_PASSWORD not in result.output
    assert deploy_pull(site, 1) == "robot$payments+harbourmaster-pull-1"
    with site.hm.store.read() as tx:
        robot = tx.robots.active("harbor-payments", PULL_ROBOT)
    assert robot is not None and robot.last_error is not None
    assert "create robot harbourmaster-pull-2: Harbor answered 401" in robot.last_error


def test_refresh_replaces_the_secret_in_place(site: Site) -> None:
    harbor_sync(site.hm, ADMIN, "harbor-payments")
    (before,) = [r for r in site.harbor.robots.values() if r.name.endswith("+ci-1")]
    old_secret = before.secret
    result = rotate_credential(site.hm, ADMIN, "harbor-payments", robot="ci", refresh=True)
    assert [(r.outcome, r.username) for r in result.robots] == [("rotated", "robot$payments+ci-1")]
    assert not pulls(site, before.name, Secret(old_secret))
    assert pulls(site, before.name, Secret(before.secret))


def test_scheduled_rotation_and_expiry_alerts(site: Site) -> None:
    harbor_sync(site.hm, ADMIN, "harbor-payments")
    # 16 days on, the 30-day CI robot is within its 14-day alert window and past half its life.
    site.clock.advance(dt.timedelta(days=16))
    expiring = {c.credential: c for c in credential_expiries(site.hm) if c.kind == "robot"}
    assert expiring["robot$payments+ci-1"].seconds_left(site.clock.now()) < 14 * 86400
    report = rotation_tick(site.hm)
    assert report.rotated == ["harbor-payments/ci"]
    assert report.failed == []
    # The new generation has a fresh lifetime, so nothing is alerted now.
    assert report.alerts == [] and site.alerts.sent == []

    # Rotation refused (Harbor's admin password changed): the robot drifts into its alert window.
    site.harbor.admin_password = "changed"
    site.clock.advance(dt.timedelta(days=16))
    report = rotation_tick(site.hm)
    assert report.rotated == [] and report.failed
    assert report.alerts == ["harbor-payments/robot$payments+ci-2"]
    assert [n.event for n in site.alerts.sent] == ["credential.expiring"]
    assert site.alerts.sent[0].payload["registry"] == "harbor-payments"
    # Once a day per credential.
    assert rotation_tick(site.hm).alerts == []
    assert len(site.alerts.sent) == 1


def test_no_secret_reaches_any_output_and_the_metric_names_each_credential(site: Site) -> None:
    """The administrator's password and every robot secret Harbor handed out appear in no CLI output (text
    or JSON), API answer, audit record or metric."""
    runner = CliRunner()
    outputs = [
        runner.invoke(app, ["harbor", "sync", "--registry", "harbor-payments", "--dry-run"]).output,
        runner.invoke(app, ["harbor", "sync", "--registry", "harbor-payments", "--json"]).output,
        runner.invoke(app, ["harbor", "sync", "--registry", "harbor-payments"]).output,
        runner.invoke(app, ["credentials", "rotate", "harbor-payments", "--json"]).output,
        runner.invoke(app, ["credentials", "rotate", "harbor-payments", "--robot", "ci", "--refresh"]).output,
        runner.invoke(app, ["credentials", "expiring", "--within", "100d", "--json"]).output,
        runner.invoke(app, ["export"]).output,
        runner.invoke(app, ["audit", "export", "--no-checkpoint"]).output,
        runner.invoke(app, ["assess", "--format", "json"]).output,
    ]
    assert "in sync" in outputs[2]
    assert "robot$payments+harbourmaster-pull-2" in outputs[3]
    token = issue_token(site.hm, ADMIN, user="ops", name="test").token
    with TestClient(create_app(site.hm)) as client:
        auth = {"Authorization": f"Bearer {token.reveal()}"}
        answers = [
            client.post("/api/v1/registries/harbor-payments/harbor-sync", headers=auth),
            client.post("/api/v1/registries/harbor-payments/rotate", headers=auth, params={"robot": "ci"}),
            client.get("/api/v1/credentials/expiring", headers=auth, params={"within": "100d"}),
            client.get("/metrics"),
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200], [a.text for a in answers]
    assert answers[0].json()["actions"] == []
    assert answers[1].json()["robots"][0]["outcome"] == "rotated"
    metrics = answers[3].text
    assert ('harbourmaster_credential_expiry_seconds{credential="ci",kind="robot",'
            'registry="harbor-payments"}') in metrics  # fmt: skip
    assert "robot$payments" not in metrics, "/metrics needs no token: no Harbor account name in it"
    assert 'credential="admin",kind="static"' not in metrics, "the admin credential has no expiry"
    outputs += [a.text for a in answers]
    secrets = {ADMIN_PASSWORD, *site.harbor.issued_secrets}
    assert len(site.harbor.issued_secrets) >= 7
    for text in outputs:
        for secret in secrets:
            assert secret not in text


def test_a_master_key_rotation_rewraps_the_robot_secrets(site: Site) -> None:
    harbor_sync(site.hm, ADMIN, "harbor-payments")
    with site.hm.store.read() as tx:
        before = {r.harbor_name: r.sealed for r in tx.robots.robots()}
    rotated = CliRunner().invoke(app, ["keys", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    with site.hm.store.read() as tx:
        after = {r.harbor_name: r.sealed for r in tx.robots.robots()}
    assert after.keys() == before.keys() and all(after[k] != before[k] for k in before)
    # The same core reads the new master key: the rewrapped secrets still open and still pull.
    fresh = build(Settings.from_environ(), clock=site.clock)
    use = use_credential(fresh, registry="harbor-payments", actor="dev-user", purpose="deploy 1")
    assert use is not None and pulls(site, use.username, use.secret)
    fresh.db.dispose()


def test_robots_sealed_for_an_old_address_are_replaced_when_the_registry_moves(site: Site) -> None:
    harbor_sync(site.hm, ADMIN, "harbor-payments")
    port = site.harbor.host.rsplit(":", 1)[1]
    moved = GOVERNANCE.format(host=f"localhost:{port}")
    apply_document(site.hm, ADMIN, moved, source="moved.yaml", host=site.hm.host_files())
    # The stored robot secrets are bound to the old origin: they do not open for the new one.
    with pytest.raises(VaultError):
        use_credential(site.hm, registry="harbor-payments", actor="dev-user", purpose="deploy 1")
    result = harbor_sync(site.hm, ADMIN, "harbor-payments")
    assert sorted(a.target for a in result.actions if a.action == "replace-robot") == [
        "robot$payments+ci-1", "robot$payments+harbourmaster-pull-1", "robot$payments+harbourmaster-push-1"
    ]  # fmt: skip
    assert {a.reason for a in result.actions} == {"its stored secret no longer opens (the registry moved)"}
    use = use_credential(site.hm, registry="harbor-payments", actor="dev-user", purpose="deploy 2")
    assert use is not None and use.username == "robot$payments+harbourmaster-pull-2"
    assert harbor_sync(site.hm, ADMIN, "harbor-payments").actions == []
