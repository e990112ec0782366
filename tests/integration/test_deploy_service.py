"""``harbourmaster deploy`` and ``deployments list|show|remove`` end to end: a governance model whose
development environment is a real Docker Engine (Debian docker.io on a private socket) and whose registry
is the real distribution registry with htpasswd auth.  The verdict judges each image (kept scans; the
tier blocks unscanned images), the deployment pins it to the checked digest, the registry credential is
opened from the vault for the pull only, and every step is audited without the secret."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from harbourmaster.bootstrap import build
from harbourmaster.cli.main import app
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.errors import Forbidden
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.deployments import DeploymentDenied, deploy_now, request_deployment
from harbourmaster.services.jobs import run_one
from harbourmaster.services.registry_digests import clear_registry_caches
from harbourmaster.settings import Settings
from tests.components import ensure_binary, stop_process
from tests.fakes.clock import FixedClock
from tests.gate._gate import keep_scan
from tests.integration import test_docker_deploy
from tests.integration.registry_fixtures import PASSWORD, RunningRegistry, skopeo, start_registry
from tests.supply._tools import Umoci

pytestmark = pytest.mark.integration

dockerd = test_docker_deploy.dockerd
home = test_docker_deploy.home
_files_holding = test_docker_deploy._files_holding

SECRET_ENV = "HM_TEST_DEPLOY_LAB_SECRET"

GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: lab
    provider: custom
    url: http://{host}
    tls: {{insecure: true}}
    credential: {{username: {username}, secret: env:{secret_env}{expires}}}
users:
  - {{name: ops, role: administrator}}
  - {{name: dana, role: team-member}}
  - {{name: eve, role: team-member}}
environments:
  - {{name: dev, kind: {kind}, tier: development, endpoint: "unix://{socket}"}}
  - {{name: nowhere, kind: docker-standalone, tier: development, endpoint: "unix://{missing}"}}
access:
  - {{user: ops, environment: dev}}
  - {{user: dana, environment: dev}}
  - {{user: ops, environment: nowhere}}
grants:
  - {{registry: lab, environment: dev, users: [ops, dana]}}
  - {{registry: lab, environment: nowhere, users: [ops]}}
tiers:
  development: {{block_severity: high, unscanned: block}}
"""


def run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=stdin, catch_exceptions=False)


def push_busybox(registry: RunningRegistry, root: Path, repository: str = "team/busybox") -> str:
    """A runnable busybox-static image pushed as ``repository:v1``; its digest."""
    busybox = ensure_binary("busybox", "busybox-static")
    umoci = Umoci(root)
    bin_dir = umoci.rootfs / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox, bin_dir / "busybox")
    for applet in ("sh", "sleep", "cat", "echo"):
        (bin_dir / applet).symlink_to("busybox")
    umoci.repack()
    reference = f"{registry.host}/{repository}"
    skopeo(registry, "copy", f"oci:{umoci.ref}", f"docker://{reference}:v1")
    return skopeo(registry, "inspect", "--format", "{{.Digest}}", f"docker://{reference}:v1").strip()


def govern(
    tmp_path: Path,
    registry: RunningRegistry,
    socket: str,
    *,
    expires: str | None = None,
    kind: str = "docker-standalone",
) -> None:
    os.environ[SECRET_ENV] = PASSWORD
    doc = tmp_path / "governance.yaml"
    doc.write_text(
        GOVERNANCE.format(
            host=registry.host,
            username=registry.username,
            secret_env=SECRET_ENV,
            expires=f", expires: {expires}" if expires else "",
            socket=socket,
            kind=kind,
            missing=tmp_path / "no-docker.sock",
        )
    )
    assert run("init").exit_code == 0
    applied = run("apply", "-f", str(doc))
    assert applied.exit_code == 0, applied.output


def compose(image: str, *, sleep: str = "300") -> str:
    return yaml.safe_dump(
        {
            "name": "shop",
            "services": {
                "db": {
                    "image": image,
                    "command": ["sleep", "300"],
                    "init": True,
                    "restart": "unless-stopped",
                },
                "web": {
                    "image": image,
                    "command": ["sleep", sleep],
                    "depends_on": ["db"],
                    "init": True,
                    "environment": {"ROLE": "web"},
                },
            },
        }
    )


def _inspect(socket: str, name: str) -> dict[str, Any] | None:
    with httpx.Client(transport=httpx.HTTPTransport(uds=socket), timeout=30) as client:
        answer = client.get(f"http://docker/v1.41/containers/{name}/json")
    return None if answer.status_code == 404 else dict(answer.json())


def _audit(action: str) -> list[Any]:
    hm = Harbourmaster.from_environ()
    with hm.store.read() as tx:
        return [e for e in tx.audit.entries() if e.action == action]


@pytest.fixture
def lab(
    tmp_path: Path, registry_basic: RunningRegistry, dockerd: str, home: Path
) -> Iterator[dict[str, Any]]:
    digest = push_busybox(registry_basic, tmp_path / "busybox")
    clear_registry_caches()  # the tag moved: an earlier test of this process may have resolved it
    govern(tmp_path, registry_basic, dockerd)
    keep_scan(f"{registry_basic.host}/team/busybox", digest)
    yield {"registry": registry_basic, "digest": digest, "socket": dockerd, "root": tmp_path, "home": home}
    os.environ.pop(SECRET_ENV, None)


def test_deploy_pins_pulls_with_the_vault_credential_runs_and_leaves_no_credential(
    lab: dict[str, Any],
) -> None:
    registry, digest, socket = lab["registry"], lab["digest"], lab["socket"]
    started = time.time() - 1
    file = lab["root"] / "shop.yaml"
    file.write_text(compose(f"{registry.host}/team/busybox:v1"))

    deployed = run("deploy", "--env", "dev", "--user", "ops", "-f", str(file), "--wait", "--json")
    assert deployed.exit_code == 0, deployed.output
    result = json.loads(deployed.stdout)
    assert result["state"] == "deployed" and result["name"] == "shop" and result["user"] == "ops"
    pinned = f"{registry.host}/team/busybox@{digest}"
    assert {i["pinned"] for i in result["images"]} == {pinned}
    assert {i["credential"] for i in result["images"]} == {registry.username}
    assert result["result"]["created"] == ["shop-db-1", "shop-web-1"]
    web = _inspect(socket, "shop-web-1")
    assert web is not None and web["State"]["Running"]
    assert web["Config"]["Image"] == pinned  # the digest the verdict checked, not the tag
    labels = web["Config"]["Labels"]
    assert labels["io.harbourmaster.deployment"] == result["id"]
    assert labels["io.harbourmaster.verdict"] == result["verdict_id"]

    # user -> deployment -> image digest -> registry -> credential by name, never the secret.
    (applied,) = _audit("deploy.apply")
    assert applied.actor.startswith("local:") and applied.target == f"deployment {result['id']}"
    assert {(i["digest"], i["registry"], i["credential"]) for i in applied.details["images"]} == {
        (digest, "lab", registry.username)
    }
    uses = [e for e in _audit("credential.use") if e.details.get("purpose") == f"deploy {result['id']}"]
    assert uses and all(e.target == "lab" for e in uses)

    # Redeploying the same file changes nothing; the deployment keeps its id.
    again = run("deploy", "--env", "dev", "--user", "ops", "-f", str(file), "--wait", "--json")
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    assert second["id"] == result["id"] and second["result"]["unchanged"] == ["shop-db-1", "shop-web-1"]
    assert _inspect(socket, "shop-web-1")["Id"] == web["Id"]  # type: ignore[index]

    listed = json.loads(run("deployments", "list", "--json").stdout)
    assert [(d["id"], d["state"]) for d in listed] == [(result["id"], "deployed")]
    shown = json.loads(run("deployments", "show", result["id"], "--json").stdout)
    assert {(r["name"], r["state"]) for r in shown["live"]} == {
        ("shop-db-1", "running"),
        ("shop-web-1", "running"),
    }

    # Nothing on disk holds the password: not the engine's data root, not $HOME, not harbourmaster's home
    # (its database keeps the credential sealed), nor anything written under /root meanwhile.
    hm_home = Path(os.environ["HARBOURMASTER_HOME"])
    assert _files_holding(PASSWORD, Path(socket).parent, lab["home"], hm_home) == []
    touched = subprocess.run(
        ["find", os.path.expanduser("~root"), "-xdev", "-type", "f", "-newermt", f"@{started}"],
        capture_output=True, text=True, check=False,
    ).stdout.split()  # fmt: skip
    assert [f for f in touched if _files_holding(PASSWORD, Path(f))] == []
    for output in (deployed.output, again.output):
        assert PASSWORD not in output

    removed = run("deployments", "remove", result["id"])
    assert removed.exit_code == 0, removed.output
    assert "shop-db-1" in removed.stdout and "shop-web-1" in removed.stdout
    assert _inspect(socket, "shop-web-1") is None and _inspect(socket, "shop-db-1") is None
    assert [e.details["removed"] for e in _audit("deploy.remove")] == [["shop-db-1", "shop-web-1"]]


def test_a_denied_image_stops_the_deployment_before_anything_is_touched(lab: dict[str, Any]) -> None:
    registry, socket = lab["registry"], lab["socket"]
    unscanned = push_busybox(registry, lab["root"] / "unscanned", repository="team/unscanned")
    file = lab["root"] / "shop.yaml"
    file.write_text(compose(f"{registry.host}/team/unscanned@{unscanned}"))
    denied = run("deploy", "--env", "dev", "--user", "ops", "-f", str(file), "--wait")
    assert denied.exit_code == 1, denied.output
    assert "refused" in denied.output and "unscanned" in denied.output
    assert _inspect(socket, "shop-web-1") is None
    (refused,) = _audit("deploy.refused")
    assert refused.result == "refused" and refused.details["tenant"] == "ops"
    assert _audit("credential.use") == [] or all(
        e.details.get("purpose", "").startswith("decision") for e in _audit("credential.use")
    )

    # A team member deploys as themselves only; one without access to the environment not at all.
    file.write_text(compose(f"{registry.host}/team/busybox:v1"))
    hm = Harbourmaster.from_environ()
    for principal, user in (
        (Principal("dana", Role.TEAM_MEMBER), "ops"),
        (Principal("eve", Role.TEAM_MEMBER), "eve"),
    ):
        with pytest.raises(Forbidden):
            request_deployment(
                hm, principal, environment="dev", user=user, text=file.read_text(), source="shop.yaml"
            )
    # A team member deploying as themselves may use named volumes but not bind a host path ("/" would be
    # the engine's host); a platform engineer or administrator may.
    dana = Principal("dana", Role.TEAM_MEMBER)
    document = yaml.safe_load(file.read_text())
    document["services"]["web"]["volumes"] = ["/:/host:ro"]
    with pytest.raises(Forbidden) as bind:
        request_deployment(
            hm, dana, environment="dev", user="dana", text=yaml.safe_dump(document), source="shop.yaml"
        )
    assert bind.value.details == ["services.web.volumes: /:/host"]
    document["services"]["web"]["volumes"] = ["data:/data"]
    document["volumes"] = {"data": None}
    accepted = request_deployment(
        hm, dana, environment="dev", user="dana", text=yaml.safe_dump(document), source="shop.yaml"
    )
    assert accepted.deployment.user == "dana"
    document["services"]["web"]["volumes"] = ["/srv/shop:/srv:ro"]
    ops = request_deployment(
        hm, Principal("ops", Role.ADMINISTRATOR), environment="dev", user="ops",
        text=yaml.safe_dump(document), source="shop.yaml",
    )  # fmt: skip
    assert ops.deployment.user == "ops"


def test_queued_deployment_runs_as_a_job_and_unsupported_compose_fields_are_refused(
    lab: dict[str, Any],
) -> None:
    registry, socket = lab["registry"], lab["socket"]
    file = lab["root"] / "shop.yaml"
    document = yaml.safe_load(compose(f"{registry.host}/team/busybox:v1"))
    document["services"]["web"]["privileged"] = True
    file.write_text(yaml.safe_dump(document))
    refused = run("deploy", "--env", "dev", "--user", "ops", "-f", str(file))
    assert refused.exit_code == 2 and "services.web.privileged" in refused.output, refused.output

    file.write_text(compose(f"{registry.host}/team/busybox:v1"))
    queued = run("deploy", "--env", "dev", "--user", "ops", "-f", str(file), "--json")
    assert queued.exit_code == 0, queued.output
    accepted = json.loads(queued.stdout)
    assert accepted["deployment"]["state"] == "queued"
    assert _inspect(socket, "shop-web-1") is None  # queued: nothing touched yet
    hm = Harbourmaster.from_environ()
    job = run_one(hm, owner="test-worker")
    assert job is not None and job.id == accepted["job_id"] and job.state.value == "succeeded", job
    shown = json.loads(run("deployments", "show", accepted["deployment"]["id"], "--json").stdout)
    assert shown["state"] == "deployed" and shown["job_id"] == accepted["job_id"]
    assert _inspect(socket, "shop-web-1")["State"]["Running"]  # type: ignore[index]
    assert run("deployments", "remove", shown["id"]).exit_code == 0


def test_faults_end_in_clear_errors_and_leave_no_credential(tmp_path: Path, dockerd: str, home: Path) -> None:
    # A registry of this test only, to stop it between the verdict and the pull.
    registry = start_registry(tmp_path / "registry", auth="htpasswd")
    try:
        digest = push_busybox(registry, tmp_path / "busybox")
        govern(tmp_path, registry, dockerd)
        keep_scan(f"{registry.host}/team/busybox", digest)
        file = tmp_path / "shop.yaml"
        file.write_text(compose(f"{registry.host}/team/busybox@{digest}"))

        # The engine cannot be reached: a clear error naming it, exit 3, the deployment failed.
        unreachable = run("deploy", "--env", "nowhere", "--user", "ops", "-f", str(file), "--wait")
        assert unreachable.exit_code == 3, unreachable.output
        assert "no-docker.sock" in unreachable.output and "Traceback" not in unreachable.output

        # The registry goes down after the verdict: the pull fails naming image and registry.
        assert registry.proc is not None
        stop_process(registry.proc)
        down = run("deploy", "--env", "dev", "--user", "ops", "-f", str(file), "--wait")
        assert down.exit_code == 3, down.output
        assert registry.host in down.output and "pull" in down.output
        assert _inspect(dockerd, "shop-db-1") is None
        failed = _audit("deploy.failed")
        assert [e.details["environment"] for e in failed] == ["nowhere", "dev"]
        listed = json.loads(run("deployments", "list", "--json").stdout)
        assert {d["state"] for d in listed} == {"failed"}
        assert _files_holding(PASSWORD, Path(dockerd).parent, home) == []
        for output in (unreachable.output, down.output):
            assert PASSWORD not in output
    finally:
        if registry.proc is not None and registry.proc.poll() is None:
            stop_process(registry.proc)
        os.environ.pop(SECRET_ENV, None)


def test_an_expired_credential_is_refused_before_any_call(
    tmp_path: Path, registry_basic: RunningRegistry, dockerd: str
) -> None:
    digest = push_busybox(registry_basic, tmp_path / "busybox")
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    govern(tmp_path, registry_basic, dockerd, expires=tomorrow.isoformat())
    keep_scan(f"{registry_basic.host}/team/busybox", digest)
    file = tmp_path / "shop.yaml"
    file.write_text(compose(f"{registry_basic.host}/team/busybox@{digest}"))
    # Accepted while the credential is valid; by the time the job runs it has expired.
    queued = run("deploy", "--env", "dev", "--user", "ops", "-f", str(file), "--json")
    assert queued.exit_code == 0, queued.output
    later = build(Settings.from_environ(), clock=FixedClock(dt.datetime.now(dt.UTC) + dt.timedelta(days=3)))
    job = run_one(later, owner="test-worker")
    assert job is not None and job.state.value == "failed"
    message = f"the credential of registry lab ({registry_basic.username}) expired on {tomorrow.isoformat()}"
    assert job.error is not None and message in job.error
    # ... and a new deployment is refused at once: the verdict denies the registry's images.
    expired = f"the credential of registry lab expired on {tomorrow.isoformat()}"
    with pytest.raises(DeploymentDenied) as denied:
        deploy_now(later, Principal("ops", Role.ADMINISTRATOR), environment="dev", user="ops",
                   text=file.read_text(), source="shop.yaml")  # fmt: skip
    assert denied.value.details and all(expired in d for d in denied.value.details)
    assert _inspect(dockerd, "shop-db-1") is None
    assert [e for e in _audit("credential.use") if e.details.get("purpose", "").startswith("deploy")] == []
    assert [e.details["error"] for e in _audit("deploy.failed")] == [job.error]
    os.environ.pop(SECRET_ENV, None)
