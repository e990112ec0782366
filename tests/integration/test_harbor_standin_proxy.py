"""The Harbor stand-in serves Harbor's API and the distribution API (``/v2/``) on ONE host, as Harbor
does: ``/v2`` requests are relayed to the real distribution registry behind it, whose htpasswd the
stand-in rewrites for its robots. skopeo, an independent client, pushes and pulls through that host
with robot credentials minted, refreshed and deleted through the stand-in's API."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.client
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.components import ensure_binary, stop_process
from tests.harbor_standin import ADMIN, PREFIX, HarborStandIn
from tests.integration.registry_fixtures import RunningRegistry, skopeo, start_registry, write_image_layout

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "canary-Harbor-admin-5e0b2a91"
REPO = "payments/api"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    reg = start_registry(tmp_path / "registry", auth="htpasswd")
    try:
        yield reg
    finally:
        assert reg.proc is not None
        stop_process(reg.proc)


@pytest.fixture
def harbor(registry: RunningRegistry) -> Iterator[HarborStandIn]:
    with HarborStandIn(
        admin_password=ADMIN_PASSWORD, htpasswd=registry.root / "htpasswd", registry=registry.host
    ) as standin:
        yield standin


def api(harbor: HarborStandIn) -> httpx.Client:
    return httpx.Client(base_url=f"http://{harbor.host}{PREFIX}", auth=(ADMIN, ADMIN_PASSWORD), timeout=30)


def create_robot(harbor: HarborStandIn) -> tuple[int, str, str]:
    """A project ``payments`` and a robot with push and pull on it: (id, name, secret)."""
    with api(harbor) as client:
        assert client.post("/projects", json={"project_name": "payments"}).status_code == 201
        answer = client.post(
            "/robots",
            json={
                "name": "ci",
                "duration": 30,
                "level": "project",
                "permissions": [
                    {
                        "kind": "project",
                        "namespace": "payments",
                        "access": [
                            {"resource": "repository", "action": "push"},
                            {"resource": "repository", "action": "pull"},
                        ],
                    }
                ],
            },
        )
    assert answer.status_code == 201, answer.text
    robot = answer.json()
    return robot["id"], robot["name"], robot["secret"]


def through(harbor: HarborStandIn, registry: RunningRegistry, name: str, secret: str) -> RunningRegistry:
    """The registry as a client sees it through the stand-in's host, with these credentials."""
    return dataclasses.replace(registry, host=harbor.host, username=name, password=secret, proc=None)


def skopeo_fails(view: RunningRegistry, *args: str) -> str:
    """Run skopeo expecting failure; its stderr."""
    binary = ensure_binary("skopeo", "skopeo")
    result = subprocess.run(
        [
            binary,
            "--insecure-policy",
            args[0],
            "--tls-verify=false",
            "--creds",
            f"{view.username}:{view.password}",
            *args[1:],
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0, "skopeo succeeded with credentials that should be refused"
    return result.stderr.decode(errors="replace")


def status_v2(harbor: HarborStandIn, name: str, secret: str) -> int:
    """The status of ``GET /v2/`` through the stand-in with Basic ``name``/``secret``."""
    return httpx.get(f"http://{harbor.host}/v2/", auth=(name, secret), timeout=30).status_code


def test_push_and_pull_through_the_standin_host_with_robot_credentials(
    tmp_path: Path, registry: RunningRegistry, harbor: HarborStandIn
) -> None:
    robot_id, name, secret = create_robot(harbor)
    # A layer big enough to be streamed in several 64 KiB pieces each way. (skopeo uploads a blob of
    # known size with Content-Length; the chunked request path is tested by hand below.)
    digest = write_image_layout(tmp_path / "layout", tag="v1", layer_sizes=(4096, 500_000))
    view = through(harbor, registry, name, secret)
    skopeo(view, "copy", f"oci:{tmp_path / 'layout'}:v1", f"docker://{harbor.host}/{REPO}:v1")

    # Pullable through the stand-in host with the robot's secret...
    inspected = skopeo(view, "inspect", "--format", "{{.Digest}}", f"docker://{harbor.host}/{REPO}:v1")
    assert inspected.strip() == digest
    skopeo(view, "copy", f"docker://{harbor.host}/{REPO}:v1", f"oci:{tmp_path / 'pulled'}:v1")
    index = json.loads((tmp_path / "pulled" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == digest
    # ...and the image really is in the registry behind (its own account sees it directly).
    direct = skopeo(registry, "inspect", "--format", "{{.Digest}}", f"docker://{registry.host}/{REPO}:v1")
    assert direct.strip() == digest

    # The registry's own challenge is relayed, not the Harbor API's.
    anonymous = httpx.get(f"http://{harbor.host}/v2/", timeout=30)
    assert anonymous.status_code == 401
    assert "harbourmaster-basic-realm" in anonymous.headers["www-authenticate"]
    assert anonymous.headers.get("docker-distribution-api-version") == "registry/2.0"
    assert ("GET", "/v2/", {}) in harbor.requests
    # The API still answers on the same host, with its own auth.
    assert httpx.get(f"http://{harbor.host}{PREFIX}/robots/{robot_id}", timeout=30).status_code == 401
    # No credential is recorded by the stand-in.
    assert secret not in repr(harbor.requests)
    assert base64.b64encode(f"{name}:{secret}".encode()).decode() not in repr(harbor.requests)


def test_refreshed_and_deleted_robot_secrets_are_refused_through_the_standin_host(
    tmp_path: Path, registry: RunningRegistry, harbor: HarborStandIn
) -> None:
    robot_id, name, secret = create_robot(harbor)
    write_image_layout(tmp_path / "layout", tag="v1")
    image = f"docker://{harbor.host}/{REPO}:v1"
    skopeo(through(harbor, registry, name, secret), "copy", f"oci:{tmp_path / 'layout'}:v1", image)
    assert skopeo(through(harbor, registry, name, secret), "inspect", "--format", "{{.Digest}}", image)

    with api(harbor) as client:
        answer = client.patch(f"/robots/{robot_id}", json={"secret": ""})
    assert answer.status_code == 200
    fresh = answer.json()["secret"]
    assert fresh != secret

    # The old secret is refused (401 from the registry, relayed); the new one works.
    assert status_v2(harbor, name, secret) == 401
    stderr = skopeo_fails(through(harbor, registry, name, secret), "inspect", image)
    assert "401" in stderr or "unauthorized" in stderr.lower()
    assert status_v2(harbor, name, fresh) == 200
    skopeo(through(harbor, registry, name, fresh), "copy", image, f"oci:{tmp_path / 'pulled'}:v1")

    with api(harbor) as client:
        assert client.delete(f"/robots/{robot_id}").status_code == 200
    assert status_v2(harbor, name, fresh) == 401
    stderr = skopeo_fails(through(harbor, registry, name, fresh), "inspect", image)
    assert "401" in stderr or "unauthorized" in stderr.lower()
    # The registry's own account, present before the stand-in wrote the file, still works through it.
    assert status_v2(harbor, registry.username or "", registry.password or "") == 200
    assert fresh not in repr(harbor.requests) and secret not in repr(harbor.requests)


def test_chunked_upload_head_and_keep_alive_on_one_connection(
    registry: RunningRegistry, harbor: HarborStandIn
) -> None:
    """A blob upload driven by hand on ONE keep-alive connection: POST, a chunked PATCH, PUT to the
    ``Location`` the registry formed (which must name the stand-in's host), HEAD without a body, GET."""
    auth = "Basic " + base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
    blob = bytes(range(256)) * 4096  # 1 MiB
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    host, port = harbor.host.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("POST", f"/v2/{REPO}/blobs/uploads/", headers={"Authorization": auth})
        started = conn.getresponse()
        started.read()
        assert started.status == 202
        location = started.getheader("Location") or ""
        assert location.startswith(f"http://{harbor.host}/v2/{REPO}/blobs/uploads/"), location
        path = location[len(f"http://{harbor.host}") :]

        pieces = (blob[i : i + 100_000] for i in range(0, len(blob), 100_000))
        conn.request(
            "PATCH",
            path,
            body=pieces,
            headers={"Authorization": auth, "Content-Type": "application/octet-stream"},
            encode_chunked=True,
        )
        patched = conn.getresponse()
        patched.read()
        assert patched.status == 202, patched.status
        assert patched.getheader("Range") == f"0-{len(blob) - 1}"
        path = (patched.getheader("Location") or "")[len(f"http://{harbor.host}") :]

        separator = "&" if "?" in path else "?"
        conn.request("PUT", f"{path}{separator}digest={digest}", headers={"Authorization": auth})
        finished = conn.getresponse()
        finished.read()
        assert finished.status == 201, finished.status

        conn.request("HEAD", f"/v2/{REPO}/blobs/{digest}", headers={"Authorization": auth})
        head = conn.getresponse()
        assert head.status == 200
        assert head.getheader("Content-Length") == str(len(blob))
        assert head.read() == b""

        conn.request("GET", f"/v2/{REPO}/blobs/{digest}", headers={"Authorization": auth})
        got = conn.getresponse()
        assert got.status == 200
        assert got.read() == blob
        assert got.getheader("Docker-Content-Digest") == digest
    finally:
        conn.close()


def test_concurrent_clients_through_the_standin(registry: RunningRegistry, harbor: HarborStandIn) -> None:
    auth = (registry.username or "", registry.password or "")
    blob = b"concurrent" * 50_000
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with httpx.Client(base_url=f"http://{harbor.host}", auth=auth, timeout=60) as client:
        started = client.post(f"/v2/{REPO}/blobs/uploads/")
        assert started.status_code == 202
        location = started.headers["location"]
        separator = "&" if "?" in location else "?"
        assert client.put(f"{location}{separator}digest={digest}", content=blob).status_code == 201

    failures: list[str] = []

    def fetch() -> None:
        with httpx.Client(base_url=f"http://{harbor.host}", auth=auth, timeout=60) as client:
            for _ in range(5):
                answer = client.get(f"/v2/{REPO}/blobs/{digest}")
                if answer.status_code != 200 or answer.content != blob:
                    failures.append(f"{answer.status_code} {len(answer.content)}")

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures
