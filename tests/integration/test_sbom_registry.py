"""``sbom generate|attach|fetch|list`` end to end against the real CNCF distribution registry.

The governance model names a basic-auth registry; images are pushed with skopeo,
and skopeo (the independent peer) is the oracle for what was attached: the
``sha256-<hex>`` referrers tag (the CNCF registry has no referrers API) and the
artifact manifest's ``subject`` and ``artifactType``.  The registry password is
a canary that no output, error or audit record may contain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from harbourmaster.cli.main import app
from harbourmaster.registry import Descriptor, Digest
from harbourmaster.registry.media import OCI_EMPTY, OCI_INDEX, OCI_MANIFEST, compute_digest, referrers_tag
from harbourmaster.services.registry_endpoints import run_sync
from harbourmaster.supply.sbom import SbomFormat, validate_sbom
from harbourmaster.supply.sbom.attach import build_sbom_manifest
from tests.integration.registry_fixtures import PASSWORD, skopeo
from tests.supply._images import compress, file, tar_bytes
from tests.supply._layouts import add_image, write_index

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytestmark = pytest.mark.integration

STATUS = Path("/var/lib/dpkg/status").read_text()
OS_RELEASE = Path("/usr/lib/os-release").read_text()
REPO = "hmsbomops/app"


@dataclass
class Lab:
    registry: RunningRegistry
    run: Callable[..., Result]
    outputs: list[str]
    images: dict[str, str]  # tag -> skopeo's digest

    def ref(self, tag: str) -> str:
        return f"{self.registry.host}/{REPO}:{tag}"


def _push_image(registry: RunningRegistry, root: Path, tag: str, extra: str) -> str:
    layout = root / tag
    layers = [compress(tar_bytes([file("var/lib/dpkg/status", STATUS), file("etc/os-release", OS_RELEASE)]),
                       "gzip"),
              compress(tar_bytes([file(f"usr/lib/python3/dist-packages/{extra}-1.0.dist-info/METADATA",
                                       f"Metadata-Version: 2.1\nName: {extra}\nVersion: 1.0\n")]), "gzip")]
    write_index(layout, [add_image(layout, layers)], [tag])
    skopeo(registry, "copy", f"oci:{layout}:{tag}", f"docker://{registry.host}/{REPO}:{tag}")
    return skopeo(registry, "inspect", "--format", "{{.Digest}}",
                  f"docker://{registry.host}/{REPO}:{tag}").strip()


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory, registry_basic: RunningRegistry) -> dict[str, str]:
    root = tmp_path_factory.mktemp("sbom-ops-images")
    return {tag: _push_image(registry_basic, root, tag, f"pkg{tag}")
            for tag in ("v1", "bare", "badschema", "wrongsubject", "other")}


GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: lab-sbom
    provider: custom
    url: http://{host}
    credential: {{kind: user, username: {user}, secret: env:HM_SBOM_LAB_SECRET}}
    tls: {{insecure: true}}
environments:
  - name: dev
    kind: docker-standalone
    tier: development
users:
  - name: dev-user
access:
  - environment: dev
    user: dev-user
grants:
  - registry: lab-sbom
    environment: dev
    users: [dev-user]
"""


@pytest.fixture
def lab(images: dict[str, str], registry_basic: RunningRegistry, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    monkeypatch.setenv("HM_SBOM_LAB_SECRET", PASSWORD)
    doc = tmp_path / "governance.yaml"
    doc.write_text(GOVERNANCE.format(host=registry_basic.host, user=registry_basic.username))
    runner = CliRunner()
    outputs: list[str] = []

    def run(*args: str) -> Result:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        outputs.extend([result.stdout, result.stderr])
        return result

    assert run("init").exit_code == 0
    assert run("apply", "-f", str(doc)).exit_code == 0
    yield Lab(registry_basic, run, outputs, images)
    exported = run("audit", "export")
    assert exported.exit_code == 0
    # The canary: no command, error or audit record carries the registry password.
    for text in outputs:
        assert PASSWORD not in text


def _raw(lab: Lab, reference: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(skopeo(lab.registry, "inspect", "--raw",
                                               f"docker://{lab.registry.host}/{REPO}{reference}"))
    return result


def _audit(lab: Lab) -> list[dict[str, Any]]:
    exported = lab.run("audit", "export")
    lines = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    return [r for r in lines if r.get("type") != "audit.checkpoint"]  # the export's closing checkpoint


def test_generate_attach_fetch_and_list(lab: Lab, tmp_path: Path) -> None:
    digest = lab.images["v1"]
    out = tmp_path / "generated.json"
    generated = lab.run("sbom", "generate", lab.ref("v1"), "-o", str(out), "--json")
    assert generated.exit_code == 0, generated.output
    summary = json.loads(generated.stdout)
    assert summary["digest"] == digest and summary["stored"]["origin"] == "generated"
    document = out.read_text().removesuffix("\n")  # -o ends a generated document with a newline
    validate_sbom(document, SbomFormat.CYCLONEDX_JSON)
    names = {c["name"] for c in json.loads(document)["components"]}
    assert "pkgv1" in names and summary["packages"] > 100  # this machine's dpkg database and more

    attached = lab.run("sbom", "attach", lab.ref("v1"), "--json")
    assert attached.exit_code == 0, attached.output
    info = json.loads(attached.stdout)
    assert info["generated"] is False  # the stored SBOM was attached
    artifact = info["artifact"]
    assert artifact["via"] == "tag-schema" and artifact["subject"] == digest
    # skopeo, the independent peer, sees the referrers tag and the artifact manifest.
    tag = referrers_tag(Digest(digest))
    assert tag == "sha256-" + digest.partition(":")[2]
    index = _raw(lab, f":{tag}")
    assert index["mediaType"] == OCI_INDEX
    entry = next(m for m in index["manifests"] if m["digest"] == artifact["digest"])
    assert entry["artifactType"] == "application/vnd.cyclonedx+json"
    manifest = _raw(lab, f"@{artifact['digest']}")
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["artifactType"] == "application/vnd.cyclonedx+json"
    assert manifest["subject"]["digest"] == digest
    assert manifest["subject"]["size"] == len(skopeo(lab.registry, "inspect", "--raw",
                                                     f"docker://{lab.ref('v1')}").encode())
    assert manifest["config"] == {"mediaType": OCI_EMPTY, "digest": compute_digest(b"{}"), "size": 2}
    assert [x["mediaType"] for x in manifest["layers"]] == ["application/vnd.cyclonedx+json"]
    assert "org.opencontainers.image.created" in manifest["annotations"]
    # The attached document is the stored one, byte for byte.
    assert manifest["layers"][0]["digest"] == "sha256:" + hashlib.sha256(document.encode()).hexdigest()

    fetched_out = tmp_path / "fetched.json"
    fetched = lab.run("sbom", "fetch", lab.ref("v1"), "-o", str(fetched_out))
    assert fetched.exit_code == 0, fetched.output
    assert fetched_out.read_bytes() == document.encode()
    assert "stored" in fetched.stderr

    # SPDX too: generated on attach (the store has none), a second referrer of the same image.
    spdx = lab.run("sbom", "attach", lab.ref("v1"), "--format", "spdx-json", "--json")
    assert spdx.exit_code == 0, spdx.output
    assert json.loads(spdx.stdout)["generated"] is True
    assert {m.get("artifactType") for m in _raw(lab, f":{tag}")["manifests"]} == {
        "application/vnd.cyclonedx+json", "application/spdx+json"}
    spdx_doc = lab.run("sbom", "fetch", lab.ref("v1"), "--format", "spdx-json")
    assert spdx_doc.exit_code == 0
    validate_sbom(spdx_doc.stdout, SbomFormat.SPDX_JSON)

    listed = json.loads(lab.run("sbom", "list", "--digest", digest, "--json").stdout)
    assert {(r["format"], r["origin"]) for r in listed} == {("cyclonedx-json", "fetched"),
                                                            ("spdx-json", "fetched")}
    assert all(r["component_count"] == summary["packages"] for r in listed)
    table = lab.run("sbom", "list")
    assert table.exit_code == 0 and "fetched" in table.stdout

    actions = [(r["action"], r["result"]) for r in _audit(lab) if r["action"].startswith("sbom.")]
    assert ("sbom.generate", "ok") in actions and ("sbom.attach", "ok") in actions
    assert ("sbom.fetch", "ok") in actions
    uses = {r["details"]["purpose"] for r in _audit(lab) if r["action"] == "credential.use"}
    assert {"sbom.generate", "sbom.attach", "sbom.fetch"} <= uses


def test_an_image_outside_the_approved_registries_is_refused(lab: Lab) -> None:
    for command in ("generate", "attach", "fetch"):
        result = lab.run("sbom", command, "127.0.0.1:1/elsewhere/app:v1")
        assert result.exit_code == 2
        assert "127.0.0.1:1/elsewhere/app:v1 is in no approved registry" in result.stderr
    assert lab.run("sbom", "list", "--json").stdout.strip() == "[]"


def test_an_image_without_an_attached_sbom(lab: Lab) -> None:
    result = lab.run("sbom", "fetch", lab.ref("bare"))
    assert result.exit_code == 2
    assert f"no cyclonedx-json SBOM is attached to {REPO}@{lab.images['bare']}" in result.stderr
    assert lab.run("sbom", "list", "--json").stdout.strip() == "[]"
    failed = [r for r in _audit(lab) if r["action"] == "sbom.fetch"]
    assert [r["result"] for r in failed] == ["failed"]


async def _push_artifact(lab: Lab, *, document: bytes, subject: Descriptor, tag_for: str) -> Digest:
    """Push an SBOM artifact for ``subject`` and list it under ``tag_for``'s referrers tag."""
    async with lab.registry.client() as client:
        await client.upload_blob(REPO, b"{}")
        await client.upload_blob(REPO, document)
        raw = build_sbom_manifest(document=document, fmt=SbomFormat.CYCLONEDX_JSON, subject=subject)
        digest = await client.put_manifest(REPO, compute_digest(raw), raw, media_type=OCI_MANIFEST)
        if tag_for != subject.digest:
            entry = {"mediaType": OCI_MANIFEST, "digest": digest, "size": len(raw),
                     "artifactType": "application/vnd.cyclonedx+json"}
            index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()
            await client.put_manifest(REPO, referrers_tag(Digest(tag_for)), index, media_type=OCI_INDEX)
        return digest


def _subject(lab: Lab, tag: str) -> Descriptor:
    raw = skopeo(lab.registry, "inspect", "--raw", f"docker://{lab.ref(tag)}").encode()
    return Descriptor(media_type=OCI_MANIFEST, digest=compute_digest(raw), size=len(raw))


def test_an_attached_document_that_fails_the_schema_is_refused(lab: Lab) -> None:
    bad = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": "not a list"}).encode()
    run_sync(_push_artifact(lab, document=bad, subject=_subject(lab, "badschema"),
                            tag_for=lab.images["badschema"]))
    result = lab.run("sbom", "fetch", lab.ref("badschema"))
    assert result.exit_code == 2
    assert "document fails the cyclonedx-json schema" in result.stderr
    assert lab.run("sbom", "list", "--json").stdout.strip() == "[]"


def test_an_artifact_naming_another_subject_is_refused(lab: Lab) -> None:
    good = lab.run("sbom", "generate", lab.ref("other"))
    assert good.exit_code == 0
    listed_before = lab.run("sbom", "list", "--json").stdout
    # A valid SBOM artifact of image "other", listed under the referrers tag of "wrongsubject".
    artifact = run_sync(_push_artifact(lab, document=good.stdout.strip().encode(),
                                       subject=_subject(lab, "other"), tag_for=lab.images["wrongsubject"]))
    result = lab.run("sbom", "fetch", lab.ref("wrongsubject"))
    assert result.exit_code == 2
    assert f"{artifact}" in result.stderr and f"refers to {lab.images['other']}" in result.stderr
    assert lab.run("sbom", "list", "--json").stdout == listed_before  # nothing stored


def test_attach_scan_and_verify_queued_with_no_wait_run_in_a_worker(lab: Lab, tmp_path: Path) -> None:
    from harbourmaster.services.core import Harbourmaster
    from harbourmaster.services.jobs import run_one

    image = f"{lab.registry.host}/{REPO}:other"
    attach = lab.run("sbom", "attach", image, "--no-wait", "--json")
    assert attach.exit_code == 0, attach.output
    queued = json.loads(attach.stdout)
    assert (queued["kind"], queued["state"], queued["payload"]) == ("sbom.attach", "queued", {"image": image})
    scan = lab.run("scan", image, "--env", "dev", "--no-wait")
    assert scan.exit_code == 0, scan.output
    scan_id = int(scan.stdout.strip())  # the id alone on standard output, how to follow it on stderr
    assert f"harbourmaster job wait {scan_id}" in scan.stderr
    verify = lab.run("verify", image, "--env", "dev", "--no-wait", "--json")
    assert verify.exit_code == 0 and json.loads(verify.stdout)["kind"] == "image.verify"
    refused = lab.run("verify", image, "--no-wait")
    assert refused.exit_code == 2 and "--env" in refused.stderr
    # Nothing ran yet: a worker takes them (here one in this process, as `harbourmaster worker` would).
    hm = Harbourmaster.from_environ()
    try:
        while run_one(hm, owner="test-worker") is not None:
            pass
    finally:
        hm.db.dispose()
    attached = lab.run("job", "wait", str(queued["id"]), "--json")
    assert attached.exit_code == 0, attached.output
    artifact = json.loads(attached.stdout)["result"]["artifact"]
    assert artifact["repository"] == REPO and artifact["subject"] == lab.images["other"]
    fetched = lab.run("sbom", "fetch", image, "-o", str(tmp_path / "other.cdx.json"), "--json")
    assert fetched.exit_code == 0, fetched.output
    scanned = json.loads(lab.run("job", "wait", str(scan_id), "--json").stdout)
    assert scanned["state"] == "succeeded" and scanned["result"]["image"]["digest"] == lab.images["other"]
    assert scanned["result"]["verdict"]["tier"] == "development"
    verified = json.loads(lab.run("job", "wait", str(json.loads(verify.stdout)["id"]), "--json").stdout)
    assert verified["state"] == "succeeded" and verified["result"]["image_digest"] == lab.images["other"]
