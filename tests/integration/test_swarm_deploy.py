"""The Swarm target against a real Docker Engine in swarm mode (Debian docker.io, private socket, no
iptables, no default bridge: overlay networks and host-mode ports work, the ingress routing mesh does
not) and the real distribution registry with htpasswd auth.

Where Swarm keeps the registry credential, as observed here: the Engine API never shows it
(``GET /services/{id}`` and ``/tasks`` have no ``PullOptions``), the raft store is encrypted at rest, and
the worker's task database (``swarm/worker/tasks.db``) holds the ``X-Registry-Auth`` value (base64url
JSON, so the plain password appears in no file) of every task created while the spec held it.  That the
spec no longer holds it after ``retention="none"`` is shown by what Swarm does: a task rescheduled onto a
node without the image cannot pull it any more, while with ``retention="keep"`` it can.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from harbourmaster.cli.main import app
from harbourmaster.deploy._engine_client import registry_auth_header
from harbourmaster.deploy.interface import DeployError, EngineUnreachable, ImagePullFailed, RegistryAuth
from harbourmaster.deploy.swarm_engine import (
    LABEL_REGISTRY_AUTH,
    RESCHEDULE_NOTICE,
    SwarmPlanRefused,
    SwarmTarget,
)
from harbourmaster.domain.compose_plan import ComposePlan, plan_compose
from harbourmaster.domain.secret import Secret
from harbourmaster.services.registry_digests import clear_registry_caches
from tests.components import ensure_binary, stop_process, unavailable, wait_until
from tests.gate._gate import keep_scan
from tests.integration import test_deploy_service as deploy_service
from tests.integration import test_docker_deploy
from tests.integration.registry_fixtures import PASSWORD, RunningRegistry, free_port

pytestmark = pytest.mark.integration

# The standalone (not swarm) daemon of the pull-gate tests; the busybox image of the standalone ones.
dockerd = test_docker_deploy.dockerd
busybox_image = test_docker_deploy.busybox_image
home = test_docker_deploy.home
_files_holding = test_docker_deploy._files_holding


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private Docker daemon (the pull-gate fixture's flags) that is a one-node swarm; its socket."""
    ensure_binary("dockerd", "docker.io")
    logs = tmp_path_factory.mktemp("swarm-dockerd")
    root = Path("/tmp") / f"hm-swarm-docker-{time.monotonic_ns() % 10**8}"  # short: socket paths are bounded
    root.mkdir(parents=True)
    socket = root / "docker.sock"
    log = open(logs / "dockerd.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        ["dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "pid"), "-H", f"unix://{socket}", "--iptables=false",
         "--ip6tables=false", "--bridge=none", "--storage-driver=vfs"],
        stdout=log, stderr=log,
    )  # fmt: skip

    def ready() -> bool:
        if proc.poll() is not None:
            unavailable(f"dockerd exited: {(logs / 'dockerd.log').read_text()[-2000:]}")
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket))) as client:
            return client.get("http://docker/_ping", timeout=2).status_code == 200

    import docker

    client = None
    try:
        wait_until(ready, timeout=60.0, what="dockerd")
        client = docker.DockerClient(base_url=f"unix://{socket}", version="1.41")
        client.swarm.init(advertise_addr="127.0.0.1", listen_addr=f"127.0.0.1:{free_port()}")
        yield str(socket)
    finally:
        if client is not None:
            try:
                client.swarm.leave(force=True)
            finally:
                client.close()
        stop_process(proc)
        log.close()
        subprocess.run(["rm", "-rf", str(root)], check=False)


def _api(socket: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(uds=socket), timeout=60) as client:
        return client.request(method, f"http://docker/v1.41{path}", **kwargs)


def _inspect(socket: str, name: str) -> dict[str, Any]:
    answer = _api(socket, "GET", f"/services/{name}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _compose(sleep_web: str = "300") -> dict[str, Any]:
    return {
        "services": {
            "db": {
                "image": "busybox",
                "command": ["sleep", "300"],
                "environment": {"ROLE": "db"},
                "volumes": ["data:/var/lib/db"],
                "networks": ["back"],
                "restart": "unless-stopped",
                "init": True,
            },
            "web": {
                "image": "busybox",
                "entrypoint": "/bin/sh -c",
                "command": [f"echo up > /tmp/up; exec sleep {sleep_web}"],
                "environment": ["ROLE=web"],
                "ports": ["18480:8080", {"target": 9090, "published": 18490, "protocol": "udp"}],
                "depends_on": ["db"],
                "networks": {"back": {"aliases": ["frontend"]}, "front": None},
                "labels": {"team": "shop"},
                "restart": "on-failure:3",
                "init": True,  # sleep as PID 1 ignores SIGTERM: every stop would take the grace period
            },
        },
        "volumes": {"data": None},
        "networks": {"back": {"internal": True}, "front": None},
    }


def _plan(
    image: str, document: dict[str, Any], verdict: str = "verdict-1", project: str = "shop"
) -> ComposePlan:
    return plan_compose(
        document,
        project=project,
        deployment_id=f"deploy-{project}-1",
        verdict_id=verdict,
        images={name: image for name in document["services"]},
    )


def _target(socket: str) -> SwarmTarget:
    return SwarmTarget.connect(f"unix://{socket}", publish_mode="host", wait_timeout=60)


def test_a_task_without_the_credential_fails_to_pull_naming_service_and_image(
    swarm: str, busybox_image: str, registry_basic: RunningRegistry, home: Path
) -> None:
    target = _target(swarm)
    plan = _plan(busybox_image, _compose())
    with pytest.raises(ImagePullFailed) as anonymous:
        target.apply(plan, {})
    message = anonymous.value.diagnostics()
    assert "shop_" in message and busybox_image in message and registry_basic.host in message, message
    assert "anonymously" in message and "rejected" in message, message

    target.remove("deploy-shop-1")
    wrong = RegistryAuth("hm-tester", Secret("not-the-password"))
    with pytest.raises(ImagePullFailed) as refused:
        target.apply(plan, {registry_basic.host: wrong}, retention="none")
    assert "not-the-password" not in refused.value.diagnostics()
    assert "hm-tester" in refused.value.diagnostics()
    # A failed deployment with retention none still removes the credential it stored.
    for name in ("shop_db", "shop_web"):
        assert _inspect(swarm, name)["Spec"]["Labels"][LABEL_REGISTRY_AUTH] == "removed"
    target.remove("deploy-shop-1")
    assert target.list("deploy-shop-1") == ()

    # What a Swarm service cannot do is refused by field, before anything is created.
    local = _compose()
    local["services"]["web"]["ports"] = ["127.0.0.1:18480:8080"]
    local["services"]["db"]["network_mode"] = "none"
    del local["services"]["db"]["networks"]
    with pytest.raises(SwarmPlanRefused) as unsupported:
        target.apply(_plan(busybox_image, local), {})
    details = " ".join(unsupported.value.details)
    assert "services.web.ports" in details and "host IP" in details
    assert "services.db.network_mode" in details
    assert target.list("deploy-shop-1") == ()


def test_services_run_redeploy_is_a_noop_and_a_change_updates_in_place(
    swarm: str, busybox_image: str, registry_basic: RunningRegistry, home: Path
) -> None:
    credentials = {registry_basic.host: RegistryAuth("hm-tester", Secret(PASSWORD))}
    header = registry_auth_header(credentials[registry_basic.host], registry_basic.host)
    target = _target(swarm)

    first = target.apply(_plan(busybox_image, _compose()), credentials)
    assert first.created == ("shop_db", "shop_web") and first.registry_auth == "keep"
    assert first.pulled == (busybox_image,)
    assert any("depends_on" in n for n in first.notices)
    web, db = _inspect(swarm, "shop_web"), _inspect(swarm, "shop_db")
    container = web["Spec"]["TaskTemplate"]["ContainerSpec"]
    assert container["Image"] == busybox_image
    assert container["Command"] == ["/bin/sh", "-c"] and container["Args"][0].startswith("echo up")
    assert container["Env"] == ["ROLE=web"] and container["Labels"]["team"] == "shop"
    labels = web["Spec"]["Labels"]
    assert labels["io.harbourmaster.deployment"] == "deploy-shop-1"
    assert labels["io.harbourmaster.verdict"] == "verdict-1"
    assert len(labels["io.harbourmaster.spec-hash"]) == 64 and labels[LABEL_REGISTRY_AUTH] == "kept"
    assert web["Spec"]["TaskTemplate"]["RestartPolicy"] == {"Condition": "on-failure", "MaxAttempts": 3}
    assert db["Spec"]["TaskTemplate"]["RestartPolicy"]["Condition"] == "any"
    assert db["Spec"]["TaskTemplate"]["ContainerSpec"]["Init"] is True
    ports = {(p["TargetPort"], p["Protocol"]): p for p in web["Spec"]["EndpointSpec"]["Ports"]}
    assert ports[(8080, "tcp")]["PublishedPort"] == 18480 and ports[(8080, "tcp")]["PublishMode"] == "host"
    assert ports[(9090, "udp")]["PublishedPort"] == 18490
    mount = db["Spec"]["TaskTemplate"]["ContainerSpec"]["Mounts"][0]
    assert mount["Source"] == "shop_data" and mount["Target"] == "/var/lib/db" and mount["Type"] == "volume"
    back = _api(swarm, "GET", "/networks/shop_back").json()
    assert (
        back["Driver"] == "overlay" and back["Scope"] == "swarm" and back["Internal"] and back["Attachable"]
    )
    aliases = {a for n in web["Spec"]["TaskTemplate"]["Networks"] for a in n.get("Aliases", [])}
    assert {"web", "frontend"} <= aliases
    running = _api(swarm, "GET", "/containers/json", params={"filters": json.dumps(
        {"label": ["com.docker.swarm.service.name=shop_web"]})}).json()  # fmt: skip
    assert running and {p.get("PublicPort") for p in running[0]["Ports"]} >= {18480, 18490}
    assert all(s.state == "running" for s in target.list("deploy-shop-1"))

    # Where the credential is: not in anything the Engine API shows, not in clear in any file; its
    # X-Registry-Auth form in the worker's task database; the raft store is encrypted.
    assert header not in json.dumps(web) and PASSWORD not in json.dumps(web)
    tasks = _api(swarm, "GET", "/tasks").text
    assert header not in tasks and PASSWORD not in tasks
    data_root = Path(swarm).parent / "data"
    assert _files_holding(PASSWORD, data_root, home) == []
    holding = [str(Path(f).relative_to(data_root)) for f in _files_holding(header, data_root)]
    assert holding == ["swarm/worker/tasks.db"], holding

    # The same file again, under a new verdict: nothing changes.
    again = target.apply(_plan(busybox_image, _compose(), verdict="verdict-2"), credentials)
    assert again.unchanged == ("shop_db", "shop_web") and not again.changed and again.pulled == ()
    assert _inspect(swarm, "shop_web")["Version"] == web["Version"]

    # One service changed: it is updated in place (same service id), the other is left alone.
    changed = target.apply(_plan(busybox_image, _compose(sleep_web="301"), "verdict-3"), credentials)
    assert changed.recreated == ("shop_web",) and changed.unchanged == ("shop_db",)
    new_web = _inspect(swarm, "shop_web")
    assert new_web["ID"] == web["ID"] and new_web["Version"]["Index"] > web["Version"]["Index"]
    assert new_web["Spec"]["Labels"]["io.harbourmaster.verdict"] == "verdict-3"
    assert _inspect(swarm, "shop_db")["Version"] == db["Version"]

    # A service dropped from the file is removed, with the network only it used.
    only_db = _compose()
    del only_db["services"]["web"]
    del only_db["networks"]["front"]
    dropped = target.apply(_plan(busybox_image, only_db, "v4"), credentials)
    assert dropped.removed == ("shop_web",) and dropped.unchanged == ("shop_db",)
    assert _api(swarm, "GET", "/networks/shop_front").status_code == 404
    assert target.remove("deploy-shop-1") == ("shop_db",)
    assert target.list("deploy-shop-1") == ()


def _reschedule_on_a_node_without_the_image(socket: str, name: str, image: str) -> None:
    """What Swarm does when it moves a task: scale to 0, drop the image from the node, scale to 1.

    Both updates are sent without ``X-Registry-Auth``, as a rescheduling has none: Swarm keeps the
    credential its spec holds.
    """

    def scale(replicas: int) -> None:
        service = _inspect(socket, name)
        spec = service["Spec"]
        spec["Mode"] = {"Replicated": {"Replicas": replicas}}
        answer = _api(socket, "POST", f"/services/{service['ID']}/update",
                      params={"version": service["Version"]["Index"]}, json=spec)  # fmt: skip
        assert answer.status_code == 200, answer.text

    def containers() -> list[dict[str, Any]]:
        found = _api(socket, "GET", "/containers/json", params={"all": "true", "filters": json.dumps(
            {"label": [f"com.docker.swarm.service.name={name}"]})})  # fmt: skip
        return list(found.json())

    scale(0)
    wait_until(lambda: all(c["State"] != "running" for c in containers()), timeout=30.0, what="scale to 0")
    for container in containers():
        _api(socket, "DELETE", f"/containers/{container['Id']}", params={"force": "true"})
    answer = _api(socket, "DELETE", f"/images/{image}", params={"force": "true"})
    assert answer.status_code == 200, answer.text
    scale(1)


def _new_task_state(socket: str, name: str) -> tuple[str, str]:
    """The state and error of the task of ``name`` that Swarm last created, once it settled."""
    result: list[tuple[str, str]] = []

    def settled() -> bool:
        found = _api(socket, "GET", "/tasks", params={"filters": json.dumps({"service": [name]})}).json()
        latest = max(found, key=lambda t: t["CreatedAt"])
        state = latest["Status"]["State"]
        result[:] = [(state, str(latest["Status"].get("Err") or ""))]
        return state in ("running", "rejected", "failed")

    wait_until(settled, timeout=60.0, what=f"a new task of {name}")
    return result[0]


def test_retention_none_removes_the_stored_credential_and_says_a_reschedule_needs_a_redeploy(
    swarm: str, busybox_image: str, registry_basic: RunningRegistry, home: Path
) -> None:
    credentials = {registry_basic.host: RegistryAuth("hm-tester", Secret(PASSWORD))}
    header = registry_auth_header(credentials[registry_basic.host], registry_basic.host)
    target = _target(swarm)
    app = {
        "services": {
            "app": {"image": "busybox", "command": ["sleep", "300"], "restart": "always", "init": True}
        }
    }
    data_root = Path(swarm).parent / "data"

    # keep: the spec holds the credential, so a rescheduled task pulls again and runs.
    kept = target.apply(_plan(busybox_image, app, project="kept"), credentials, retention="keep")
    assert kept.created == ("kept_app",) and kept.notices == ()
    _reschedule_on_a_node_without_the_image(swarm, "kept_app", busybox_image)
    assert _new_task_state(swarm, "kept_app") == ("running", "")
    target.remove("deploy-kept-1")

    # none: every task ran, then the credential was replaced by {}; the result says what that means.
    removed = target.apply(_plan(busybox_image, app, project="gone"), credentials, retention="none")
    assert removed.created == ("gone_app",) and removed.registry_auth == "none"
    assert RESCHEDULE_NOTICE in removed.notices and "redeploy through harbourmaster" in RESCHEDULE_NOTICE
    service = _inspect(swarm, "gone_app")
    assert service["Spec"]["Labels"][LABEL_REGISTRY_AUTH] == "removed"
    assert header not in json.dumps(service) and "PullOptions" not in json.dumps(service)
    assert [t.state for t in target.list("deploy-gone-1")] == ["running"]
    tasks = _api(swarm, "GET", "/tasks", params={"filters": json.dumps({"service": ["gone_app"]})}).json()
    assert len(tasks) == 1, tasks  # the removal did not restart the task

    # Redeploying the same file with none again changes nothing (the credential is already gone).
    again = target.apply(
        _plan(busybox_image, app, "verdict-2", project="gone"), credentials, retention="none"
    )
    assert again.unchanged == ("gone_app",) and _inspect(swarm, "gone_app")["Version"] == service["Version"]

    # The rescheduled task has no credential any more: the pull fails, as the notice says.
    _reschedule_on_a_node_without_the_image(swarm, "gone_app", busybox_image)
    state, error = _new_task_state(swarm, "gone_app")
    assert state == "rejected" and "No such image" in error, (state, error)

    # A redeploy through harbourmaster hands the credential over again, replaces the stuck task, and
    # removes the credential once more.
    redeployed = target.apply(
        _plan(busybox_image, app, "verdict-3", project="gone"), credentials, retention="none"
    )
    assert redeployed.recreated == ("gone_app",) and RESCHEDULE_NOTICE in redeployed.notices
    assert [t.state for t in target.list("deploy-gone-1")] == ["running"]
    assert _inspect(swarm, "gone_app")["Spec"]["Labels"][LABEL_REGISTRY_AUTH] == "removed"

    # On disk: never the password in clear; the X-Registry-Auth value stays in the worker's task
    # database, in the records of the tasks created while the spec held it.
    assert _files_holding(PASSWORD, data_root, home) == []
    holding = [str(Path(f).relative_to(data_root)) for f in _files_holding(header, data_root)]
    assert holding == ["swarm/worker/tasks.db"], holding  # not scrubbed by retention none: see the docstring
    target.remove("deploy-gone-1")


def test_an_unreachable_engine_or_one_outside_a_swarm_is_a_clear_error(tmp_path: Path, dockerd: str) -> None:
    with pytest.raises(EngineUnreachable) as absent:
        SwarmTarget.connect(f"unix://{tmp_path}/no-docker.sock")
    assert f"{tmp_path}/no-docker.sock" in absent.value.diagnostics()
    with pytest.raises(DeployError) as standalone:
        SwarmTarget.connect(f"unix://{dockerd}")
    assert (
        "not a Swarm manager" in standalone.value.diagnostics() and dockerd in standalone.value.diagnostics()
    )


def test_deploy_to_a_swarm_environment_with_retention_none(
    tmp_path: Path, swarm: str, registry_basic: RunningRegistry, home: Path
) -> None:
    """``deploy --registry-auth-retention none`` through the deployment service: the services run, the
    stored credential is gone from their specs, and the output says a rescheduling needs a redeploy."""
    digest = deploy_service.push_busybox(registry_basic, tmp_path / "busybox")
    clear_registry_caches()
    deploy_service.govern(tmp_path, registry_basic, swarm, kind="swarm")
    keep_scan(f"{registry_basic.host}/team/busybox", digest)
    file = tmp_path / "stack.yaml"
    file.write_text(yaml.safe_dump({"name": "stack", "services": {
        "app": {"image": f"{registry_basic.host}/team/busybox:v1", "command": ["sleep", "300"], "init": True},
    }}))  # fmt: skip
    runner = CliRunner()
    args = ["deploy", "--env", "dev", "--user", "ops", "-f", str(file), "--wait"]
    deployed = runner.invoke(app, [*args, "--registry-auth-retention", "none", "--json"])
    assert deployed.exit_code == 0, deployed.output
    result = json.loads(deployed.stdout)
    assert result["state"] == "deployed" and result["options"] == {"registry_auth_retention": "none"}
    assert result["result"]["registry_auth"] == "none" and RESCHEDULE_NOTICE in result["result"]["notices"]
    service = _inspect(swarm, "stack_app")
    assert service["Spec"]["Labels"][LABEL_REGISTRY_AUTH] == "removed"
    assert (
        service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        == f"{registry_basic.host}/team/busybox@{digest}"
    )
    assert (
        PASSWORD not in deployed.output and _files_holding(PASSWORD, Path(swarm).parent / "data", home) == []
    )
    # Without --json the notice goes to standard error.
    again = runner.invoke(app, [*args, "--registry-auth-retention", "none"])
    assert again.exit_code == 0 and "redeploy through harbourmaster" in again.stderr, again.output
    # Retention is a Swarm option only.
    refused = runner.invoke(app, [*args[:-1], "--registry-auth-retention", "sometimes"])
    assert refused.exit_code == 2 and "keep or none" in refused.output
    removed = runner.invoke(app, ["deployments", "remove", result["id"]])
    assert removed.exit_code == 0 and "stack_app" in removed.stdout, removed.output
    assert _api(swarm, "GET", "/services/stack_app").status_code == 404
    os.environ.pop(deploy_service.SECRET_ENV, None)
