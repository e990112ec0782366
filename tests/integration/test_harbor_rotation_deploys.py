"""Rotation under load (issue 15): real deployments keep pulling from a managed Harbor while its pull
robot's secret rotates, and none fails.

A real Docker Engine (the private daemon of the deploy tests) deploys busybox from the Harbor STAND-IN
(:mod:`tests.harbor_standin`), which relays ``/v2`` to a real distribution registry whose htpasswd it
rewrites as robots come and go: each deployment's pull really authenticates with the pull robot handed
over by harbourmaster, and the image is removed from the engine after each deployment, so every one
pulls again.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harbourmaster.bootstrap import build
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.harbor import PULL_ROBOT
from harbourmaster.domain.model import Role
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.deployments import deploy_now, remove_deployment, show_deployment
from harbourmaster.services.harbor_sync import harbor_sync
from harbourmaster.services.registry_digests import clear_registry_caches
from harbourmaster.services.robot_rotation import rotate_credential, rotation_tick
from harbourmaster.settings import Settings
from harbourmaster.store.deployment_interface import DeploymentState
from tests.components import stop_process
from tests.fakes.clock import FixedClock
from tests.gate._gate import keep_scan
from tests.harbor_standin import HarborStandIn
from tests.integration import test_docker_deploy
from tests.integration.registry_fixtures import RunningRegistry, skopeo, start_registry
from tests.integration.test_deploy_service import push_busybox

pytestmark = pytest.mark.integration

dockerd = test_docker_deploy.dockerd
home = test_docker_deploy.home

ADMIN_PASSWORD = "canary-harbor-admin-rot-5c1d7e22"
OPS = Principal("ops", Role.ADMINISTRATOR)
REGISTRY = "harbor-team"
GRACE_SECONDS = 600
#: Deployments the whole run must complete at least (each takes about 0.5 s on the private engine, a few
#: seconds when the machine is loaded; the test takes about 15 s alone).
MIN_DEPLOYMENTS = 24
#: Deployments completed before the first rotation, and after each rotation before the next step.
BEFORE_ROTATING = 6
AFTER_EACH_ROTATION = 8
#: Rotations tried at most to get two that fall inside a deployment.
MAX_ROTATIONS = 6

GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: {registry}
    provider: harbor
    url: http://{host}
    scope: team
    tls: {{insecure: true}}
    credential: {{kind: user, username: admin, secret: env:HM_TEST_HARBOR_ADMIN}}
    manage: true
users:
  - {{name: ops, role: administrator}}
environments:
  - {{name: dev, kind: docker-standalone, tier: development, endpoint: "unix://{socket}"}}
access:
  - {{user: ops, environment: dev}}
grants:
  - {{registry: {registry}, environment: dev, users: [ops]}}
tiers:
  development: {{block_severity: high, unscanned: block}}
"""


@dataclass
class Lab:
    registry: RunningRegistry
    harbor: HarborStandIn
    hm: Harbourmaster
    clock: FixedClock
    socket: str
    image: str  # <stand-in host>/team/busybox:v1
    digest: str
    layers: list[str]


def _layers(registry: RunningRegistry, digest: str) -> list[str]:
    raw = skopeo(registry, "inspect", "--raw", f"docker://{registry.host}/team/busybox@{digest}")
    return [layer["digest"] for layer in yaml.safe_load(raw)["layers"]]


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dockerd: str, home: Path) -> Iterator[Lab]:
    reg = start_registry(tmp_path / "registry", auth="htpasswd")
    try:
        # Pushed with the registry's own static htpasswd account (kept by the stand-in's rewrites).
        digest = push_busybox(reg, tmp_path / "busybox", repository="team/busybox")
        layers = _layers(reg, digest)
        clear_registry_caches()
        with HarborStandIn(admin_password=ADMIN_PASSWORD, htpasswd=reg.root / "htpasswd",
                           registry=reg.host) as harbor:  # fmt: skip
            monkeypatch.setenv("HM_TEST_HARBOR_ADMIN", ADMIN_PASSWORD)
            monkeypatch.setenv("HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG", "")
            monkeypatch.setenv("HARBOURMASTER_ROBOT_GRACE_SECONDS", str(GRACE_SECONDS))
            clock = FixedClock(dt.datetime.now(dt.UTC))
            harbor.clock = lambda: clock.now().timestamp()
            hm = build(Settings.from_environ(), clock=clock)
            hm.init()
            document = GOVERNANCE.format(registry=REGISTRY, host=harbor.host, socket=dockerd)
            apply_document(hm, OPS, document, source="governance.yaml", host=hm.host_files())
            keep_scan(f"{harbor.host}/team/busybox", digest)
            yield Lab(reg, harbor, hm, clock, dockerd, f"{harbor.host}/team/busybox:v1", digest, layers)
            hm.db.dispose()
    finally:
        assert reg.proc is not None
        stop_process(reg.proc)


def _compose(name: str, image: str) -> str:
    return yaml.safe_dump(
        {"name": name, "services": {"app": {"image": image, "command": ["sleep", "300"], "init": True}}}
    )


def _engine(socket: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(uds=socket), timeout=60) as client:
        return client.request(method, f"http://docker/v1.41{path}", **kwargs)


def _engine_images(socket: str) -> list[dict[str, Any]]:
    answer = _engine(socket, "GET", "/images/json")
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def _remove_images(socket: str) -> None:
    """Remove every image from the engine, so that the next deployment must pull again."""
    for image in _engine_images(socket):
        answer = _engine(socket, "DELETE", f"/images/{image['Id']}", params={"force": "true"})
        assert answer.status_code in (200, 404), answer.text


@dataclass
class Pulled:
    deployment: str
    username: str  # the credential the deployment opened (audit credential.use)
    layer_gets: int  # GETs of the image's layers relayed to the registry during the deployment
    started: float
    ended: float


def _deploy_once(lab: Lab, n: int) -> Pulled:
    """Deploy, check it runs, remove it and its image: one deployment that really pulled."""
    assert _engine_images(lab.socket) == [], "the engine must not hold the image before a deployment"
    before = len(lab.harbor.requests)
    started = time.monotonic()
    name = f"rot-{n}"
    deployed = deploy_now(lab.hm, OPS, environment="dev", user="ops", text=_compose(name, lab.image),
                          source=f"{name}.yaml")  # fmt: skip
    try:
        assert deployed.state is DeploymentState.DEPLOYED, deployed
        # The record names the pull robot the deployment was checked with, never Harbor's administrator.
        recorded = {str(image.credential) for image in deployed.images}
        assert len(recorded) == 1 and recorded.pop().startswith("robot$team+harbourmaster-pull-"), deployed
        assert deployed.result is not None, deployed
        assert deployed.result["created"] == [f"{name}-app-1"], deployed.result
        shown = show_deployment(lab.hm, OPS, deployed.id)
        assert [(c["name"], c["state"]) for c in shown.live or []] == [(f"{name}-app-1", "running")], shown
        relayed = list(lab.harbor.requests[before:])
    finally:
        removed = remove_deployment(lab.hm, OPS, deployed.id)
        _remove_images(lab.socket)
    assert removed.state is DeploymentState.REMOVED
    ended = time.monotonic()
    layer_gets = sum(
        1 for method, path, _ in relayed
        if method == "GET" and any(path == f"/v2/team/busybox/blobs/{layer}" for layer in lab.layers)
    )  # fmt: skip
    with lab.hm.store.read() as tx:
        entries = [e for e in tx.audit.entries() if e.action == "credential.use"]
    uses = [e for e in entries if e.details.get("purpose") == f"deploy {deployed.id}"]
    assert uses, f"deployment {deployed.id} opened no credential"
    assert {(e.target, e.result) for e in uses} == {(REGISTRY, "ok")}, uses
    usernames = {str(e.details["username"]) for e in uses}
    assert len(usernames) == 1, usernames
    return Pulled(deployed.id, usernames.pop(), layer_gets, started, ended)


def _overlapped(done: list[Pulled], rotation: tuple[float, float]) -> bool:
    """Whether a finished deployment was under way during the rotation (began, ended)."""
    began, ended = rotation
    return any(p.started <= ended and p.ended >= began for p in done)


def _pull_robots(harbor: HarborStandIn) -> dict[str, Any]:
    return {r.name: r for r in list(harbor.robots.values()) if "+harbourmaster-pull-" in r.name}


def test_deployments_keep_pulling_while_the_pull_robot_rotates_and_none_fails(lab: Lab) -> None:
    harbor_sync(lab.hm, OPS, REGISTRY)
    assert set(_pull_robots(lab.harbor)) == {"robot$team+harbourmaster-pull-1"}
    _remove_images(lab.socket)

    stop = threading.Event()
    in_flight = threading.Event()  # set while the deployer is inside a deployment
    failures: list[str] = []
    done: list[Pulled] = []
    rotations: list[tuple[float, float]] = []

    def deployer() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            in_flight.set()
            try:
                done.append(_deploy_once(lab, n))
            except BaseException as exc:  # every failure is collected and fails the test below
                failures.append(f"deployment {n}: {type(exc).__name__}: {exc}")
                try:
                    _remove_images(lab.socket)
                except BaseException as cleanup:
                    failures.append(f"cleanup after deployment {n}: {cleanup}")
                    return
            finally:
                in_flight.clear()

    def wait_for(count: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while len(done) < count and not failures and time.monotonic() < deadline:
            time.sleep(0.05)

    thread = threading.Thread(target=deployer, name="deployer")
    thread.start()
    try:
        wait_for(BEFORE_ROTATING)  # deployments are flowing with generation 1
        # Two rotations must fall inside a deployment.  "In flight" is seen an instant before rotating, and
        # that deployment may end in between: such a rotation still counts as one, and another follows.
        for _ in range(MAX_ROTATIONS):
            before = len(done)
            assert in_flight.wait(30), "no deployment in flight to rotate under"
            began = time.monotonic()
            result = rotate_credential(lab.hm, OPS, REGISTRY, robot=PULL_ROBOT)
            rotations.append((began, time.monotonic()))
            assert [r.outcome for r in result.robots] == ["rotated"], result
            wait_for(before + AFTER_EACH_ROTATION)  # the pause: deployments go on with the new robot
            if len([r for r in rotations if _overlapped(done, r)]) >= 2:
                break
        wait_for(MIN_DEPLOYMENTS)
    finally:
        stop.set()
        thread.join(120)
    assert not thread.is_alive(), "the deployer did not stop"
    assert failures == []
    assert len(done) >= MIN_DEPLOYMENTS, [p.deployment for p in done]
    # Two rotations happened while a deployment was under way (and those deployments succeeded too).
    assert len([r for r in rotations if _overlapped(done, r)]) >= 2, rotations
    last_generation = len(rotations) + 1
    # Every deployment pulled for real: its layers were fetched through the Harbor host.
    assert [p.deployment for p in done if p.layer_gets < len(lab.layers)] == []
    generations = [p.username.rsplit("-", 1)[1] for p in done]
    assert {p.username.rsplit("-", 1)[0] for p in done} == {"robot$team+harbourmaster-pull"}, generations
    assert set(generations) == {str(g) for g in range(1, last_generation + 1)}, (
        f"deployments crossed every rotation: {generations}")
    assert generations == sorted(generations, key=int), "a deployment went back to a replaced generation"

    old = _pull_robots(lab.harbor)
    assert set(old) == {f"robot$team+harbourmaster-pull-{g}" for g in range(1, last_generation + 1)}, (
        "replaced ones in grace")

    lab.clock.advance(dt.timedelta(seconds=GRACE_SECONDS + 1))
    report = rotation_tick(lab.hm)
    current = f"robot$team+harbourmaster-pull-{last_generation}"
    assert sorted(report.retired, key=lambda n: int(n.rsplit("-", 1)[1])) == [
        f"robot$team+harbourmaster-pull-{g}" for g in range(1, last_generation)]
    assert set(_pull_robots(lab.harbor)) == {current}
    htpasswd = (lab.registry.root / "htpasswd").read_text()
    assert all(f"harbourmaster-pull-{g}:" not in htpasswd for g in range(1, last_generation))
    assert f"{current}:" in htpasswd

    last = _deploy_once(lab, 999)
    assert last.username == current
    assert last.layer_gets >= len(lab.layers)
