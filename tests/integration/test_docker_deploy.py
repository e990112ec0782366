"""The Docker standalone target against a real Docker Engine (Debian docker.io, private socket, no
iptables, no default bridge: user-defined bridge networks work) and the real distribution registry with
htpasswd auth.  Images are busybox-static rootfs built with umoci and pushed with skopeo."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harbourmaster.deploy._engine_tls import EngineTls, ssl_context
from harbourmaster.deploy.docker_engine import DockerEngineTarget
from harbourmaster.deploy.interface import DeployError, EngineUnreachable, ImagePullFailed, RegistryAuth
from harbourmaster.domain.compose_plan import ComposePlan, plan_compose
from harbourmaster.domain.secret import Secret
from tests.components import ensure_binary
from tests.integration import test_pull_gate
from tests.integration.registry_fixtures import PASSWORD, CertificateAuthority, RunningRegistry, skopeo
from tests.supply._tools import Umoci

pytestmark = pytest.mark.integration

# The private daemon of the pull-gate tests: `dockerd --bridge=none --iptables=false --storage-driver=vfs`.
dockerd = test_pull_gate.dockerd


@pytest.fixture(scope="module")
def busybox_image(tmp_path_factory: pytest.TempPathFactory, registry_basic: RunningRegistry) -> str:
    """A runnable busybox image in the htpasswd registry; its digest-pinned reference."""
    busybox = ensure_binary("busybox", "busybox-static")
    umoci = Umoci(tmp_path_factory.mktemp("busybox"))
    bin_dir = umoci.rootfs / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox, bin_dir / "busybox")
    for applet in ("sh", "sleep", "cat", "echo", "nc", "httpd"):
        (bin_dir / applet).symlink_to("busybox")
    umoci.repack()
    reference = f"{registry_basic.host}/team/busybox"
    skopeo(registry_basic, "copy", f"oci:{umoci.ref}", f"docker://{reference}:v1")
    digest = skopeo(registry_basic, "inspect", "--format", "{{.Digest}}", f"docker://{reference}:v1").strip()
    return f"{reference}@{digest}"


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
                "ports": ["127.0.0.1::8080", {"target": 9090, "protocol": "udp"}],
                "depends_on": {"db": {"condition": "service_started"}},
                "networks": {"back": {"aliases": ["frontend"]}, "front": None},
                "labels": {"team": "shop"},
                "init": True,
            },
        },
        "volumes": {"data": None},
        "networks": {"back": {"internal": True}, "front": None},
    }


def _plan(image: str, document: dict[str, Any], verdict: str = "verdict-1") -> ComposePlan:
    return plan_compose(
        document,
        project="shop",
        deployment_id="deploy-shop-1",
        verdict_id=verdict,
        images={"db": image, "web": image},
    )


def _inspect(socket: str, name: str) -> dict[str, Any]:
    with httpx.Client(transport=httpx.HTTPTransport(uds=socket), timeout=30) as client:
        answer = client.get(f"http://docker/v1.41/containers/{name}/json")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _files_holding(text: str, *roots: Path) -> list[str]:
    found = []
    for root in roots:
        if root.exists():
            result = subprocess.run(
                ["grep", "-rlaF", text, str(root)], capture_output=True, text=True, check=False
            )
            found += result.stdout.splitlines()
    return found


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh $HOME, so that anything a client would write there can be searched whole."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    yield path


def test_pull_without_the_credential_fails_naming_image_and_registry(
    dockerd: str, busybox_image: str, registry_basic: RunningRegistry, home: Path
) -> None:
    target = DockerEngineTarget.connect(f"unix://{dockerd}", stop_timeout=2)
    plan = _plan(busybox_image, _compose())
    with pytest.raises(ImagePullFailed) as anonymous:
        target.apply(plan, {})
    message = anonymous.value.diagnostics()
    assert busybox_image in message and registry_basic.host in message, message
    assert "anonymously" in message and ("no basic auth credentials" in message or "401" in message), message

    wrong = RegistryAuth("hm-tester", Secret("not-the-password"))
    with pytest.raises(ImagePullFailed) as refused:
        target.apply(plan, {registry_basic.host: wrong})
    assert "not-the-password" not in refused.value.diagnostics()
    assert "hm-tester" in refused.value.diagnostics()
    assert target.list("deploy-shop-1") == ()  # nothing was created


def test_apply_runs_redeploy_is_a_noop_and_a_change_recreates_only_that_service(
    dockerd: str, busybox_image: str, registry_basic: RunningRegistry, home: Path
) -> None:
    started = time.time() - 1
    credentials = {registry_basic.host: RegistryAuth("hm-tester", Secret(PASSWORD))}
    assert PASSWORD not in repr(credentials)
    target = DockerEngineTarget.connect(f"unix://{dockerd}", stop_timeout=2)

    first = target.apply(_plan(busybox_image, _compose()), credentials)
    assert first.created == ("shop-db-1", "shop-web-1")  # db first: web depends on it
    assert first.pulled == (busybox_image,)
    web, db = _inspect(dockerd, "shop-web-1"), _inspect(dockerd, "shop-db-1")
    assert web["State"]["Running"] and db["State"]["Running"]
    assert web["Config"]["Image"] == busybox_image
    assert web["Config"]["Labels"]["io.harbourmaster.deployment"] == "deploy-shop-1"
    assert web["Config"]["Labels"]["io.harbourmaster.verdict"] == "verdict-1"
    assert web["Config"]["Labels"]["team"] == "shop"
    assert web["Config"]["Entrypoint"] == ["/bin/sh", "-c"]
    assert "ROLE=web" in web["Config"]["Env"] and "ROLE=db" in db["Config"]["Env"]
    assert set(web["NetworkSettings"]["Networks"]) == {"shop_back", "shop_front"}
    assert "frontend" in web["NetworkSettings"]["Networks"]["shop_back"]["Aliases"]
    assert web["HostConfig"]["PortBindings"]["8080/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": ""}]
    assert "9090/udp" in web["HostConfig"]["PortBindings"]
    assert db["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert db["Mounts"][0]["Name"] == "shop_data" and db["Mounts"][0]["Destination"] == "/var/lib/db"

    # The same file again, under a new verdict: nothing changes, nothing is pulled.
    again = target.apply(_plan(busybox_image, _compose(), verdict="verdict-2"), credentials)
    assert again.unchanged == ("shop-db-1", "shop-web-1")
    assert not again.changed and again.pulled == ()
    assert _inspect(dockerd, "shop-web-1")["Id"] == web["Id"]

    # One service changed: only it is recreated.
    changed = target.apply(_plan(busybox_image, _compose(sleep_web="301"), "verdict-3"), credentials)
    assert changed.recreated == ("shop-web-1",) and changed.unchanged == ("shop-db-1",)
    assert _inspect(dockerd, "shop-db-1")["Id"] == db["Id"]
    new_web = _inspect(dockerd, "shop-web-1")
    assert new_web["Id"] != web["Id"] and new_web["State"]["Running"]
    assert new_web["Config"]["Labels"]["io.harbourmaster.verdict"] == "verdict-3"

    # A service dropped from the file is removed, with the network only it used.
    only_db = _compose()
    del only_db["services"]["web"]
    del only_db["networks"]["front"]
    plan = plan_compose(
        only_db, project="shop", deployment_id="deploy-shop-1", verdict_id="v4", images={"db": busybox_image}
    )
    dropped = target.apply(plan, credentials)
    assert dropped.removed == ("shop-web-1",) and dropped.unchanged == ("shop-db-1",)
    assert [c.name for c in target.list("deploy-shop-1")] == ["shop-db-1"]

    # The credential went to the engine in memory only: no file of the daemon or of $HOME holds it.
    data_root = Path(dockerd).parent
    assert _files_holding(PASSWORD, data_root, home) == []
    assert not (Path("/root") / ".docker" / "config.json").exists() or not _files_holding(
        PASSWORD, Path("/root") / ".docker"
    )
    touched = subprocess.run(
        ["find", os.path.expanduser("~root"), "-xdev", "-type", "f", "-newermt", f"@{started}"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    assert [f for f in touched if _files_holding(PASSWORD, Path(f))] == []

    assert target.remove("deploy-shop-1") == ("shop-db-1",)
    assert target.list("deploy-shop-1") == ()


def test_unreachable_engine_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EngineUnreachable) as absent:
        DockerEngineTarget.connect(f"unix://{tmp_path}/no-docker.sock")
    assert f"{tmp_path}/no-docker.sock" in absent.value.diagnostics()
    with pytest.raises(EngineUnreachable) as refused:
        DockerEngineTarget.connect("tcp://127.0.0.1:9", timeout=5)
    assert "127.0.0.1:9" in refused.value.diagnostics()


def test_tls_client_certificate_loads_from_memory_without_a_file() -> None:
    ca = CertificateAuthority.create()
    cert_pem, key_pem = ca.issue("harbourmaster-deployer", server=False)
    tls = EngineTls(ca_pem=ca.pem, client_cert_pem=cert_pem, client_key_pem=Secret(key_pem))
    assert key_pem not in repr(tls)
    context = ssl_context(tls)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert any("harbourmaster test CA" in str(c.get("subject")) for c in context.get_ca_certs())
    with pytest.raises(ValueError, match="both the certificate and its private key"):
        ssl_context(EngineTls(ca_pem=ca.pem, client_cert_pem=cert_pem))
    with pytest.raises(DeployError, match="tcp:// endpoints only"):
        DockerEngineTarget.connect("unix:///run/docker.sock", tls=tls)
