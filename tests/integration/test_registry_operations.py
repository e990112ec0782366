"""``registry test``, ``registry browse``, ``resolve`` and digest pinning in ``check``, end to end.

The governance model names real CNCF distribution registries started by the
session fixtures (basic auth, token auth, TLS with a test CA, mutual TLS,
anonymous); images are pushed with skopeo, the independent peer, and skopeo's
``inspect`` is the oracle for every digest harbourmaster reports.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from harbourmaster.cli.main import app
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.services import registry_digests, registry_probe
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_digests import clear_registry_caches
from tests.components import free_port
from tests.integration.registry_fixtures import PASSWORD, skopeo, write_image_layout

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytestmark = pytest.mark.integration

WRONG_PASSWORD = "wrong-Pw-5d1e-also-never-print"
REPO = "hmops/app"
MULTI = "hmops/multi"


@dataclass
class Lab:
    basic: RunningRegistry
    tls: RunningRegistry
    mtls: RunningRegistry
    token: RunningRegistry
    anonymous: RunningRegistry
    digest: str  # skopeo's digest of basic/hmops/app:v1
    multi_digest: str  # skopeo's digest of tls/hmops/multi:v2 (an index)
    sizes: int  # config + layer bytes of hmops/app:v1
    blackhole: Blackhole
    document: Path
    run: Callable[..., Result]
    outputs: list[str]


class Blackhole:
    """A TCP listener that accepts connections and never answers: a registry that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture(scope="module")
def images(
    tmp_path_factory: pytest.TempPathFactory, registry_basic: RunningRegistry, registry_tls: RunningRegistry
) -> tuple[str, str, int]:
    """Push hmops/app:v1 (one image) to the basic registry and hmops/multi:v2 (amd64+arm64) to TLS."""
    root = tmp_path_factory.mktemp("hmops-images")
    write_image_layout(root / "app", tag="v1", seed="hmops-app")
    skopeo(registry_basic, "copy", f"oci:{root / 'app'}:v1", f"docker://{registry_basic.host}/{REPO}:v1")
    write_image_layout(root / "multi", tag="v2", seed="hmops-multi", architectures=("amd64", "arm64"))
    skopeo(
        registry_tls,
        "copy",
        "--all",
        f"oci:{root / 'multi'}:v2",
        f"docker://{registry_tls.host}/{MULTI}:v2",
    )
    digest = skopeo(
        registry_basic, "inspect", "--format", "{{.Digest}}", f"docker://{registry_basic.host}/{REPO}:v1"
    ).strip()
    multi_digest = skopeo(
        registry_tls, "inspect", "--format", "{{.Digest}}", f"docker://{registry_tls.host}/{MULTI}:v2"
    ).strip()
    manifest = json.loads(
        skopeo(registry_basic, "inspect", "--raw", f"docker://{registry_basic.host}/{REPO}:v1")
    )
    sizes = manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])
    return digest, multi_digest, sizes


def _document(lab: dict[str, Any], tmp: Path, blackhole_port: int) -> str:
    basic, tls, mtls, token, anon = (lab[k] for k in ("basic", "tls", "mtls", "token", "anonymous"))
    (tmp / "ca.pem").write_text(tls.ca_pem)
    (tmp / "mtls-ca.pem").write_text(mtls.ca_pem)
    (tmp / "client.pem").write_text(mtls.client_cert_pem)
    closed = free_port()
    dev_grant = "    environment: dev\n    users: [dev-user]\n"
    return f"""\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: lab-basic
    provider: custom
    url: http://{basic.host}
    credential: {{kind: user, username: {basic.username}, secret: env:HM_LAB_BASIC_SECRET}}
    tls: {{insecure: true}}
  - name: lab-wrong-password
    provider: custom
    url: http://{basic.host}
    scope: wrong
    credential: {{kind: user, username: {basic.username}, secret: env:HM_LAB_WRONG_SECRET}}
    tls: {{insecure: true}}
  - name: lab-token
    provider: harbor
    url: http://{token.host}
    credential: {{kind: user, username: {token.username}, secret: env:HM_LAB_BASIC_SECRET}}
    tls: {{insecure: true}}
  - name: lab-tls
    provider: custom
    url: https://{tls.host}
    tls: {{ca_bundle: {tmp / "ca.pem"}}}
  - name: lab-tls-untrusted
    provider: custom
    url: https://{tls.host}
    scope: untrusted
  - name: lab-mtls
    provider: custom
    url: https://{mtls.host}
    tls: {{ca_bundle: {tmp / "mtls-ca.pem"}, client_certificate: {tmp / "client.pem"},
          client_key: env:HM_LAB_CLIENT_KEY}}
  - name: lab-anonymous
    provider: custom
    url: http://{anon.host}
    tls: {{insecure: true}}
  - name: lab-closed
    provider: custom
    url: http://127.0.0.1:{closed}
    tls: {{insecure: true}}
  - name: lab-hangs
    provider: custom
    url: http://127.0.0.1:{blackhole_port}
    tls: {{insecure: true}}
  - name: lab-nxdomain
    provider: custom
    url: https://nonexistent.invalid
environments:
  - name: dev
    kind: docker-standalone
    tier: development
  - name: prod
    kind: kubernetes
    tier: production
    namespaces: [payments, web]
users:
  - name: dev-user
  - name: lab-admin
    role: administrator
access:
  - environment: dev
    user: dev-user
grants:
  - registry: lab-basic
{dev_grant}  - registry: lab-closed
{dev_grant}  - registry: lab-hangs
{dev_grant}  - registry: lab-tls
    environment: prod
    namespaces: [payments]
"""


@pytest.fixture
def lab(
    images: tuple[str, str, int],
    registry_basic: RunningRegistry,
    registry_tls: RunningRegistry,
    registry_mtls: RunningRegistry,
    registry_token: RunningRegistry,
    registry_anonymous: RunningRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Lab]:
    clear_registry_caches()
    monkeypatch.setenv("HM_LAB_BASIC_SECRET", PASSWORD)
    monkeypatch.setenv("HM_LAB_WRONG_SECRET", WRONG_PASSWORD)
    assert registry_mtls.client_key_pem is not None
    monkeypatch.setenv("HM_LAB_CLIENT_KEY", registry_mtls.client_key_pem)
    blackhole = Blackhole()
    registries = {
        "basic": registry_basic,
        "tls": registry_tls,
        "mtls": registry_mtls,
        "token": registry_token,
        "anonymous": registry_anonymous,
    }
    doc = tmp_path / "governance.yaml"
    doc.write_text(_document(registries, tmp_path, blackhole.port))
    runner = CliRunner()
    outputs: list[str] = []

    def run(*args: str) -> Result:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        outputs.extend([result.stdout, result.stderr])
        return result

    assert run("init").exit_code == 0
    applied = run("apply", "-f", str(doc))
    assert applied.exit_code == 0, applied.output
    try:
        yield Lab(
            registry_basic,
            registry_tls,
            registry_mtls,
            registry_token,
            registry_anonymous,
            images[0],
            images[1],
            images[2],
            blackhole,
            doc,
            run,
            outputs,
        )
    finally:
        blackhole.close()
        clear_registry_caches()
        # The canary: no command printed either password, whatever it did.
        for text in outputs:
            assert PASSWORD not in text and WRONG_PASSWORD not in text


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


def _audit(lab: Lab) -> list[dict[str, Any]]:
    exported = lab.run("audit", "export")
    assert exported.exit_code == 0, exported.output
    lines = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    return [r for r in lines if r.get("type") != "audit.checkpoint"]  # the export's closing checkpoint


def test_registry_test_reports_reachability_tls_and_authentication(lab: Lab) -> None:
    basic = lab.run("registry", "test", "lab-basic", "--json")
    assert basic.exit_code == 0, basic.output
    report = _json(basic)
    assert report["ok"] and report["reachable"] and report["failures"] == []
    assert report["authentication"] == "basic" and report["auth_realm"] == "harbourmaster-basic-realm"
    assert report["tls"] == "plain-http" and report["api_version"] == "registry/2.0"
    assert report["latency_ms"] > 0
    # The catalog named hmops/app; the CNCF registry has no referrers API.
    assert report["referrers_api"] is False

    tls = _json(lab.run("registry", "test", "lab-tls", "--json"))
    assert tls["ok"] and tls["tls"] == "verified" and tls["authentication"] == "anonymous"
    mtls = _json(lab.run("registry", "test", "lab-mtls", "--json"))
    assert mtls["ok"] and mtls["tls"] == "verified", mtls
    anonymous = _json(lab.run("registry", "test", "lab-anonymous", "--json"))
    assert anonymous["ok"] and anonymous["authentication"] == "anonymous" and anonymous["auth_realm"] is None
    token = _json(lab.run("registry", "test", "lab-token", "--json"))
    assert token["ok"] and token["authentication"] == "bearer"
    assert token["auth_realm"] == lab.token.token_issuer.realm  # type: ignore[union-attr]

    human = lab.run("registry", "test", "lab-basic")
    assert human.exit_code == 0
    for expected in ("reachable:", "yes", "plain-http", "basic (realm harbourmaster-basic-realm)", "ms"):
        assert expected in human.stdout

    records = [r for r in _audit(lab) if r["action"] == "registry.test"]
    assert [r["target"] for r in records] == [
        "lab-basic",
        "lab-tls",
        "lab-mtls",
        "lab-anonymous",
        "lab-token",
        "lab-basic",
    ]
    assert all(r["result"] == "ok" for r in records)
    uses = [r for r in _audit(lab) if r["action"] == "credential.use"]
    assert {(r["target"], r["details"]["purpose"]) for r in uses} >= {
        ("lab-basic", "registry.test"),
        ("lab-mtls", "registry.test"),
    }
    assert any(r["details"].get("field") == "client_key" for r in uses if r["target"] == "lab-mtls")


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("lab-closed", "registry-connection-refused", "connection refused"),
        ("lab-nxdomain", "registry-dns", "does not resolve"),
        ("lab-tls-untrusted", "registry-tls", "TLS"),
        ("lab-wrong-password", "registry-unauthenticated", "401"),
    ],
)
def test_registry_test_explains_each_failure(lab: Lab, name: str, kind: str, words: str) -> None:
    result = lab.run("registry", "test", name, "--json")
    assert result.exit_code == 3  # could not decide: the registry failed
    report = _json(result)
    assert not report["ok"]
    assert [f["kind"] for f in report["failures"]] == [kind]
    assert words in report["failures"][0]["message"]
    if name == "lab-tls-untrusted":
        assert report["tls"] == "untrusted" and "harbourmaster test CA" in report["tls_issuer"]
    if name == "lab-wrong-password":
        assert report["authentication"] == "failed"
        assert report["auth_realm"] == "harbourmaster-basic-realm"
    human = lab.run("registry", "test", name)
    assert human.exit_code == 3 and kind in human.stdout and words in human.stdout
    (record,) = [r for r in _audit(lab) if r["action"] == "registry.test"][:1]
    assert record["result"] == "failed" and record["details"]["failures"][0]["kind"] == kind


def test_browse_lists_repositories_tags_and_describes_images(lab: Lab) -> None:
    repos = _json(lab.run("registry", "browse", "lab-basic", "--json"))
    assert REPO in repos["repositories"] and repos["tags"] is None
    tags = _json(lab.run("registry", "browse", "lab-basic", REPO, "--json"))
    assert tags["tags"] == ["v1"] and tags["repository"] == REPO
    image = _json(lab.run("registry", "browse", "lab-basic", f"{REPO}:v1", "--json"))["image"]
    assert image["digest"] == lab.digest
    assert image["media_type"] == "application/vnd.oci.image.manifest.v1+json"
    assert image["total_size"] == lab.sizes
    assert [p["platform"] for p in image["platforms"]] == ["linux/amd64"]
    assert image["created"].startswith("2024-05-01T12:00:00")
    by_digest = _json(lab.run("registry", "browse", "lab-basic", f"{REPO}@{lab.digest}", "--json"))
    assert by_digest["image"]["digest"] == lab.digest

    multi = _json(lab.run("registry", "browse", "lab-tls", f"{MULTI}:v2", "--json"))["image"]
    assert multi["digest"] == lab.multi_digest and multi["media_type"].endswith("index.v1+json")
    assert sorted(p["platform"] for p in multi["platforms"]) == ["linux/amd64", "linux/arm64"]
    assert multi["total_size"] == sum(p["size"] for p in multi["platforms"])

    human = lab.run("registry", "browse", "lab-basic", f"{REPO}:v1")
    assert human.exit_code == 0 and lab.digest in human.stdout and "linux/amd64" in human.stdout
    missing = lab.run("registry", "browse", "lab-basic", "hmops/absent")
    assert missing.exit_code == 2 and "hmops/absent" in missing.stderr  # names what is not there
    outside = lab.run("registry", "browse", "lab-tls-untrusted", REPO)
    assert outside.exit_code == 2 and "outside the scope untrusted" in outside.stderr


def test_resolve_prints_the_digest_skopeo_sees(lab: Lab) -> None:
    image = f"{lab.basic.host}/{REPO}:v1"
    printed = lab.run("resolve", image, "--env", "dev")
    assert printed.exit_code == 0, printed.output
    assert printed.stdout.strip() == lab.digest
    as_json = _json(lab.run("resolve", image, "--env", "dev", "--user", "dev-user", "--json"))
    assert as_json["digest"] == lab.digest and as_json["registry"] == "lab-basic"
    assert as_json["tenant"] == "user dev-user"
    multi = lab.run("resolve", f"{lab.tls.host}/{MULTI}:v2", "--env", "prod", "--namespace", "payments")
    assert multi.exit_code == 0 and multi.stdout.strip() == lab.multi_digest

    refused = lab.run("resolve", image, "--env", "prod")
    assert refused.exit_code == 1 and "no registry granted" in refused.stderr
    assert lab.run("resolve", "Bad/UPPER:x", "--env", "dev").exit_code == 2
    both = lab.run("resolve", image, "--env", "prod", "--namespace", "payments", "--user", "dev-user")
    assert both.exit_code == 2
    unknown_tag = lab.run("resolve", f"{lab.basic.host}/{REPO}:nope", "--env", "dev")
    assert unknown_tag.exit_code == 2 and "nope" in unknown_tag.stderr  # names what is not there
    records = [r for r in _audit(lab) if r["action"] == "resolve"]
    assert [r["result"] for r in records] == ["ok", "ok", "ok", "failed"]
    assert records[0]["details"]["digest"] == lab.digest


def test_check_pins_allowed_images_and_audits_the_digest(lab: Lab) -> None:
    image = f"{lab.basic.host}/{REPO}:v1"
    checked = lab.run("check", "--env", "dev", "--user", "dev-user", image, "--json")
    assert checked.exit_code == 0, checked.output
    assert _json(checked)[0]["digest"] == lab.digest
    unpinned = lab.run("check", "--env", "dev", "--user", "dev-user", image, "--no-resolve", "--json")
    assert _json(unpinned)[0]["digest"] is None
    decisions = [r for r in _audit(lab) if r["action"] == "decision"]
    assert decisions[0]["details"]["images"][0]["digest"] == lab.digest
    assert decisions[1]["details"]["images"][0]["digest"] is None
    assert "digest_error" not in decisions[1]["details"]["images"][0]


def test_check_is_fast_the_second_time_a_registry_hangs(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    # The registry accepts connections and never answers; a short read timeout keeps the test quick.
    short = registry_digests.ClientOptions(connect_timeout=1.0, read_timeout=1.0, max_retries=0)
    monkeypatch.setattr(registry_digests, "DECISION_OPTIONS", short)
    image = f"127.0.0.1:{lab.blackhole.port}/team/app:v1"
    args = ("check", "--env", "dev", "--user", "dev-user", image, "--json")
    started = time.perf_counter()
    first = lab.run(*args)
    first_seconds = time.perf_counter() - started
    assert first.exit_code == 0 and _json(first)[0]["digest"] is None  # allowed, just not pinned
    assert first_seconds >= 0.9 and lab.blackhole.accepted >= 1
    accepted = lab.blackhole.accepted
    started = time.perf_counter()
    second = lab.run(*args)
    assert time.perf_counter() - started < 1.0
    assert second.exit_code == 0 and lab.blackhole.accepted == accepted  # not asked again
    refused = lab.run("check", "--env", "dev", "--user", "dev-user", f"{lab.basic.host}/x:1", "--json")
    assert refused.exit_code == 0
    images = [r["details"]["images"][0] for r in _audit(lab) if r["action"] == "decision"]
    assert images[0]["digest"] is None and "timed out" in images[0]["digest_error"]
    assert "not retried" in images[1]["digest_error"]
    assert "x" in images[2]["normalized"] and "not found" in images[2]["digest_error"].lower()


def test_the_api_returns_what_the_cli_prints(lab: Lab) -> None:
    from fastapi.testclient import TestClient

    from harbourmaster.api.app import create_app
    from harbourmaster.services.tokens import create_token

    hm = Harbourmaster.from_environ()
    token = create_token(hm, user="lab-admin", name="lab", actor="tests").token.reveal()
    headers = {"Authorization": f"Bearer {token}"}
    image = f"{lab.basic.host}/{REPO}:v1"
    with TestClient(create_app(hm)) as api:
        tested = api.post("/api/v1/registries/lab-basic/test", headers=headers)
        assert tested.status_code == 200
        cli_report = _json(lab.run("registry", "test", "lab-basic", "--json"))
        assert tested.json().keys() == cli_report.keys()
        assert {**tested.json(), "latency_ms": 0} == {**cli_report, "latency_ms": 0}
        browsed = api.get(
            "/api/v1/registries/lab-basic/browse",
            params={"repository": REPO, "reference": "v1"},
            headers=headers,
        )
        assert browsed.status_code == 200
        assert browsed.json() == _json(lab.run("registry", "browse", "lab-basic", f"{REPO}:v1", "--json"))
        resolved = api.get("/api/v1/resolve", params={"image": image, "environment": "dev"}, headers=headers)
        assert resolved.status_code == 200 and resolved.json()["digest"] == lab.digest
        assert resolved.json() == _json(lab.run("resolve", image, "--env", "dev", "--json"))
        body = {"environment": "dev", "user": "dev-user", "images": [image]}
        pinned = api.post("/api/v1/decisions", json=body, headers=headers)
        assert pinned.status_code == 200 and pinned.json()[0]["digest"] == lab.digest
        unpinned = api.post("/api/v1/decisions", json={**body, "resolve": False}, headers=headers)
        assert unpinned.json()[0]["digest"] is None
        down = api.get("/api/v1/registries/lab-closed/browse", headers=headers)
        assert down.status_code == 502 and down.headers["content-type"].startswith("application/problem+json")
        assert "connection refused" in down.json()["detail"]
        member = create_token(hm, user="dev-user", name="lab", actor="tests").token.reveal()
        refused = api.post("/api/v1/registries/lab-basic/test", headers={"Authorization": f"Bearer {member}"})
        assert refused.status_code == 403
    hm.db.dispose()


def test_no_secret_in_outputs_reports_logs_or_audit(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    image = f"{lab.basic.host}/{REPO}:v1"
    for args in (
        ("registry", "test", "lab-basic", "--json"),
        ("registry", "test", "lab-wrong-password"),
        ("registry", "test", "lab-token"),
        ("registry", "browse", "lab-basic", f"{REPO}:v1"),
        ("registry", "browse", "lab-wrong-password", "wrong/app"),
        ("resolve", image, "--env", "dev", "--json"),
        ("check", "--env", "dev", "--user", "dev-user", image, "--json"),
        ("registry", "show", "lab-basic", "--json"),
        ("export",),
    ):
        lab.run(*args)
    exported = lab.run("audit", "export").stdout
    assert '"action":"credential.use"' in exported.replace(" ", "")
    # The service's own results, and their reprs, carry no secret either.
    hm = Harbourmaster.from_environ()
    principal = Principal("canary", Role.ADMINISTRATOR)
    reports = [registry_probe.test_registry(hm, principal, n) for n in ("lab-basic", "lab-wrong-password")]
    texts = [
        *lab.outputs,
        exported,
        *(r.getMessage() for r in caplog.records),
        *(repr(r) for r in reports),
        *(r.model_dump_json() for r in reports),
    ]
    assert len(lab.outputs) >= 20
    key_line = (lab.mtls.client_key_pem or "").splitlines()[1]
    for text in texts:
        assert PASSWORD not in text and WRONG_PASSWORD not in text and key_line not in text
