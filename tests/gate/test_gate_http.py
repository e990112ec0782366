"""The pull gate at the HTTP level, in front of a stand-in upstream (a tiny distribution API written
here, named as a stand-in: it serves one manifest, one good blob and one corrupted blob, which a real
registry never would). Checked: a corrupted blob's stream is cut, a good one passes byte for byte,
paths outside the API are 404 with an OCI error, pushes 405, the policy endpoint's fingerprint, and
the source rule of the gate (no tenant at pull time)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.policy import show_policy
from tests._helpers import critical_finding
from tests.gate._gate import govern, keep_scan, running_gate

GOOD = b"a layer that is what its digest says" * 1000
BAD_DIGEST = "sha256:" + hashlib.sha256(b"the layer as pushed" * 5000).hexdigest()
CORRUPTED = b"the layer as pushed" * 4999 + b"THE LAYER AS ALTERED"[:19]
GOOD_DIGEST = "sha256:" + hashlib.sha256(GOOD).hexdigest()
# Larger than many reads of the upstream and many pieces relayed: the stream is checked across them.
LARGE = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(96 * 1024))  # 3 MiB
LARGE_DIGEST = "sha256:" + hashlib.sha256(LARGE).hexdigest()
LARGE_ALTERED = LARGE[:-1] + bytes([LARGE[-1] ^ 1])  # its last byte only
LARGE_BAD_DIGEST = "sha256:" + hashlib.sha256(b"another large layer").hexdigest()
CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
MANIFEST = json.dumps({
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
               "digest": "sha256:" + hashlib.sha256(CONFIG).hexdigest(), "size": len(CONFIG)},
    "layers": [],
}).encode()
MANIFEST_DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()


class _StandIn(BaseHTTPRequestHandler):
    """A stand-in upstream registry (not the real one): the few paths these tests pull."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        if path == "/v2/":
            self._send(200, b"{}", {"Content-Type": "application/json"})
        elif path in ("/v2/team/app/manifests/v1", f"/v2/team/app/manifests/{MANIFEST_DIGEST}"):
            self._send(200, MANIFEST, {"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                                       "Docker-Content-Digest": MANIFEST_DIGEST})
        elif path == "/v2/team/lying/manifests/v1":
            self._send(200, MANIFEST, {"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                                       "Docker-Content-Digest": GOOD_DIGEST})
        elif path == f"/v2/team/app/blobs/{GOOD_DIGEST}":
            self._send(200, GOOD, {"Content-Type": "application/octet-stream"})
        elif path == f"/v2/team/app/blobs/{BAD_DIGEST}":
            self._send(200, CORRUPTED, {"Content-Type": "application/octet-stream"})
        elif path == f"/v2/team/app/blobs/{LARGE_DIGEST}":
            self._send(200, LARGE, {"Content-Type": "application/octet-stream"})
        elif path == f"/v2/team/app/blobs/{LARGE_BAD_DIGEST}":
            self._send(200, LARGE_ALTERED, {"Content-Type": "application/octet-stream"})
        else:
            self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"unknown"}]}',
                       {"Content-Type": "application/json"})

    do_HEAD = do_GET


@pytest.fixture(params=[None], ids=["unscoped"])
def gate(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        upstream = f"127.0.0.1:{server.server_address[1]}"
        govern(tmp_path, upstream, scope=request.param)
        # Verdicts are not reused here: each test records scans while the gate runs.
        with running_gate(extra=("--verdict-ttl", "0")) as host:
            yield host
    finally:
        server.shutdown()
        server.server_close()


def test_a_corrupted_blob_is_cut_and_a_good_one_passes_unmodified(gate: str) -> None:
    good = httpx.get(f"http://{gate}/v2/team/app/blobs/{GOOD_DIGEST}", timeout=10)
    assert good.status_code == 200 and good.content == GOOD
    assert len(CORRUPTED) == len(b"the layer as pushed" * 5000)
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream(
        "GET", f"http://{gate}/v2/team/app/blobs/{BAD_DIGEST}", timeout=10
    ) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            received += chunk
    # The stream stopped short: the client never holds the whole corrupted blob.
    assert len(received) < len(CORRUPTED)


def test_a_large_blob_streams_whole_and_one_altered_in_its_last_byte_is_cut(gate: str) -> None:
    good = httpx.get(f"http://{gate}/v2/team/app/blobs/{LARGE_DIGEST}", timeout=10)
    assert good.status_code == 200 and good.headers["content-length"] == str(len(LARGE))
    assert good.content == LARGE
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream(
        "GET", f"http://{gate}/v2/team/app/blobs/{LARGE_BAD_DIGEST}", timeout=10
    ) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            received += chunk
    # Streamed as it came, but the piece holding the altered byte was never sent.
    assert len(received) < len(LARGE_ALTERED)
    assert bytes(received) == LARGE_ALTERED[: len(received)]


def test_paths_outside_the_distribution_api_are_404_with_an_oci_error(gate: str) -> None:
    for path in ("/", "/v1/_ping", "/v2/Team/App/manifests/v1", "/api/v1/decisions", "/v2/a/manifests/"):
        answer = httpx.get(f"http://{gate}{path}", timeout=10)
        assert answer.status_code == 404, path
        (error,) = answer.json()["errors"]
        assert error["code"] == "UNSUPPORTED" and "not a path of the OCI distribution API" in error["message"]
    push = httpx.put(f"http://{gate}/v2/team/app/manifests/v2", content=b"{}", timeout=10)
    assert push.status_code == 405 and push.json()["errors"][0]["code"] == "UNSUPPORTED"
    bad_digest = httpx.get(f"http://{gate}/v2/team/app/blobs/sha256:abc", timeout=10)
    assert bad_digest.status_code == 400 and bad_digest.json()["errors"][0]["code"] == "DIGEST_INVALID"


def test_the_policy_endpoint_reports_the_fingerprint_policy_show_computes(gate: str) -> None:
    hm = Harbourmaster.from_environ()
    expected = show_policy(hm, Principal("local:test", Role.ADMINISTRATOR), environment="dev")
    for path in ("/policy/dev", "/harbourmaster/policy"):
        answer = httpx.get(f"http://{gate}{path}", timeout=10).json()
        assert answer == {"environment": "dev", "tier": "development", "fingerprint": expected.fingerprint,
                          "registry": "lab"}
    assert httpx.get(f"http://{gate}/policy/prod", timeout=10).status_code == 404
    assert httpx.get(f"http://{gate}/healthz", timeout=10).json()["status"] == "ok"


def test_manifests_are_judged_by_the_kept_scan_and_a_lying_digest_is_refused(gate: str) -> None:
    url = f"http://{gate}/v2/team/app/manifests/v1"
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    unscanned = httpx.get(url, headers=accept, timeout=10)
    assert unscanned.status_code == 412
    (error,) = unscanned.json()["errors"]
    assert error["code"] == "DENIED" and "environment dev (tier development" in error["message"]
    assert "unscanned" in error["message"]
    assert httpx.head(url, headers=accept, timeout=10).status_code == 412
    image = f"{_upstream_of(gate)}/team/app"  # images are named by the upstream's host
    keep_scan(image, MANIFEST_DIGEST)
    allowed = httpx.get(f"http://{gate}/v2/team/app/manifests/{MANIFEST_DIGEST}", headers=accept, timeout=10)
    assert allowed.status_code == 200 and allowed.content == MANIFEST
    assert allowed.headers["docker-content-digest"] == MANIFEST_DIGEST
    assert allowed.headers["content-type"] == "application/vnd.oci.image.manifest.v1+json"
    assert allowed.headers["content-length"] == str(len(MANIFEST))
    lying = httpx.get(f"http://{gate}/v2/team/lying/manifests/v1", headers=accept, timeout=10)
    assert lying.status_code == 502 and lying.json()["errors"][0]["code"] == "MANIFEST_INVALID"


def _upstream_of(gate: str) -> str:
    hm = Harbourmaster.from_environ()
    reg = hm.state().registry("lab")
    assert reg is not None
    return reg.location.host


def test_a_critical_finding_denies_with_the_advisory_named(gate: str) -> None:
    keep_scan(f"{_upstream_of(gate)}/team/app", MANIFEST_DIGEST, critical_finding("CVE-2026-4242"))
    denied = httpx.get(f"http://{gate}/v2/team/app/manifests/v1",
                       headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}, timeout=10)
    assert denied.status_code == 412
    assert "CVE-2026-4242" in denied.json()["errors"][0]["message"]


@pytest.mark.parametrize("gate", ["team"], indirect=True, ids=["scoped to team"])
def test_a_scoped_registry_is_served_within_its_scope_only(gate: str) -> None:
    # Inside the scope: blobs stream as before.
    good = httpx.get(f"http://{gate}/v2/team/app/blobs/{GOOD_DIGEST}", timeout=10)
    assert good.status_code == 200 and good.content == GOOD
    # Outside it: neither manifests nor blobs nor tag lists reach the registry, nor does its catalog.
    for path in (
        "/v2/other/app/manifests/v1",
        f"/v2/other/app/blobs/{GOOD_DIGEST}",
        "/v2/other/app/tags/list",
        "/v2/teams/app/manifests/v1",
        "/v2/_catalog",
    ):
        answer = httpx.get(f"http://{gate}{path}", timeout=10)
        assert answer.status_code == 404, path
        (error,) = answer.json()["errors"]
        assert error["code"] == "NAME_UNKNOWN" and "registry lab" in error["message"], path
