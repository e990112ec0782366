"""``airgap export`` / ``airgap import`` / ``airgap diff`` across two real distribution registries.

The connected registry holds a single-arch image (signed in cosign's tag format, with an SBOM
artifact as an OCI 1.1 referrer) and a multi-arch index (signed in the bundle format, a referrer
through the ``sha256-<hex>`` tag schema: this registry has no referrers API).  The bundle goes into
other registries; skopeo is the independent reader of what arrived.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from harbourmaster.cli.main import app
from harbourmaster.registry.media import OCI_MANIFEST
from tests.components import stop_process
from tests.integration.registry_fixtures import RunningRegistry, skopeo, start_registry, write_image_layout
from tests.supply.advisories._osv import EVERY_SHAPE_SBOM, every_shape, write_zip

pytestmark = pytest.mark.integration

TARGETS = (
    "disconnected",
    "tamper",
    "other",
    "emergency",
    "delta",
    "killed",
    "split",
    "approved",
    "cosign",
    "fresh",
)
GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
{registries}
environments:
  - name: dev
    kind: docker-standalone
    tier: development
"""
REGISTRY = """\
  - name: {name}
    provider: custom
    url: http://{host}
    tls: {{insecure: true}}
"""
SBOM_TYPE = "application/spdx+json"


@dataclass
class Lab:
    home: Path
    root: Path
    registries: dict[str, RunningRegistry]
    digests: dict[str, str]
    pub: Path
    other_pub: Path
    bundle: Path
    run: Callable[..., Result]

    def ref(self, registry: str, image: str) -> str:
        return f"{self.registries[registry].host}/{image}"


def _push(registry: RunningRegistry, layout: Path, repo: str, **kwargs: Any) -> str:
    write_image_layout(layout, **kwargs)
    tag = kwargs.get("tag", "v1")
    skopeo(registry, "copy", "--all", f"oci:{layout}:{tag}", f"docker://{registry.host}/{repo}:{tag}")
    return _digest(registry, f"{repo}:{tag}")


def _push_random(registry: RunningRegistry, layout: Path, repo: str, sizes: tuple[int, ...]) -> str:
    """Push ``repo:v1`` with uncompressed random layers of ``sizes`` (quick to make at any size)."""
    import hashlib

    def blob(data: bytes) -> dict[str, Any]:
        digest = hashlib.sha256(data).hexdigest()
        path = layout / "blobs" / "sha256" / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    layers = [os.urandom(size) for size in sizes]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {
                "type": "layers",
                "diff_ids": [f"sha256:{hashlib.sha256(layer).hexdigest()}" for layer in layers],
            },
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", **blob(layer)} for layer in layers
            ],
        }
    ).encode()
    top = {
        "mediaType": OCI_MANIFEST,
        **blob(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
    }
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    skopeo(registry, "copy", f"oci:{layout}:v1", f"docker://{registry.host}/{repo}:v1")
    return _digest(registry, f"{repo}:v1")


def _digest(registry: RunningRegistry, reference: str) -> str:
    return skopeo(
        registry, "inspect", "--format", "{{.Digest}}", f"docker://{registry.host}/{reference}"
    ).strip()


def _raw(registry: RunningRegistry, reference: str) -> bytes:
    return skopeo(registry, "inspect", "--raw", f"docker://{registry.host}/{reference}").encode()


def _tags(registry: RunningRegistry, repo: str) -> set[str]:
    return set(json.loads(skopeo(registry, "list-tags", f"docker://{registry.host}/{repo}"))["Tags"])


def _catalog(registry: RunningRegistry) -> set[str]:
    return set(httpx.get(f"{registry.url}/v2/_catalog", timeout=10).json()["repositories"] or [])


def _storage(registry: RunningRegistry) -> list[str]:
    """Every file in the registry's storage (an untouched registry has none)."""
    data = registry.root / "data"
    return sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file()) if data.exists() else []


def _attach_sbom(registry: RunningRegistry, repo: str, subject: str) -> str:
    """An SPDX document pushed as an OCI 1.1 artifact whose subject is the image (written by hand)."""
    sbom = json.dumps({"spdxVersion": "SPDX-2.3", "name": repo}).encode()
    empty = b"{}"

    async def push() -> str:
        async with registry.client() as client:
            head = await client.head_manifest(repo, subject)
            sbom_digest = await client.upload_blob(repo, sbom)
            empty_digest = await client.upload_blob(repo, empty)
            manifest = {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": SBOM_TYPE,
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": empty_digest,
                    "size": 2,
                },
                "layers": [{"mediaType": SBOM_TYPE, "digest": sbom_digest, "size": len(sbom)}],
                "subject": {"mediaType": head.media_type, "digest": subject, "size": head.size},
            }
            raw = json.dumps(manifest).encode()
            import hashlib

            return str(
                await client.put_manifest(
                    repo, f"sha256:{hashlib.sha256(raw).hexdigest()}", raw, media_type=OCI_MANIFEST
                )
            )

    return asyncio.run(push())


def _image_set(path: Path, images: list[str], signer: str = "airgap-key") -> Path:
    lines = ["apiVersion: harbourmaster.io/v1", "kind: ImageSet", f"signer: {signer}", "images:"]
    lines += [f"  - {image}" for image in images]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def module_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("airgap")
    home = root / "home"
    registries: dict[str, RunningRegistry] = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARBOURMASTER_HOME", str(home))
        try:
            for name in ("connected", *TARGETS):
                registries[name] = start_registry(root / f"registry-{name}")
            src = registries["connected"]
            digests = {
                "app": _push(src, root / "app", "team/app", seed="app", layer_sizes=(4096, 20000)),
                "multi": _push(
                    src, root / "multi", "team/multi", seed="multi", architectures=("amd64", "arm64")
                ),
                "big": _push_random(src, root / "big", "team/big", (24_000_000,) * 4),
                "huge": _push_random(src, root / "huge", "team/split", (3_000_000, 500)),
            }
            runner = CliRunner()

            def run(*args: str) -> Result:
                return runner.invoke(app, list(args), catch_exceptions=False)

            doc = root / "governance.yaml"
            doc.write_text(
                GOVERNANCE.format(
                    registries="".join(REGISTRY.format(name=n, host=r.host) for n, r in registries.items())
                )
            )
            assert run("init").exit_code == 0
            applied = run("apply", "-f", str(doc))
            assert applied.exit_code == 0, applied.output
            for name in ("airgap-key", "other-key"):
                assert run("signing-key", "generate", name).exit_code == 0
            pub, other_pub = root / "airgap.pub", root / "other.pub"
            pub.write_text(run("signing-key", "public", "airgap-key").stdout)
            other_pub.write_text(run("signing-key", "public", "other-key").stdout)
            # Referrers at the source: a cosign tag signature and an SBOM artifact on app, a bundle
            # signature (OCI 1.1 artifact, tag-schema referrer) on the multi-arch index.
            signed = run("sign", f"{src.host}/team/app:v1", "--signing-key", "airgap-key")
            assert signed.exit_code == 0, signed.output
            signed = run(
                "sign", f"{src.host}/team/multi:v1", "--signing-key", "airgap-key", "--format", "bundle"
            )
            assert signed.exit_code == 0, signed.output
            digests["sbom"] = _attach_sbom(src, "team/app", digests["app"])
            image_set = _image_set(
                root / "imageset.yaml", [f"{src.host}/team/app:v1", f"{src.host}/team/multi:v1"]
            )
            bundle = root / "bundle"
            exported = run("airgap", "export", "-f", str(image_set), "-o", str(bundle), "--json")
            assert exported.exit_code == 0, exported.output
            yield Lab(home, root, registries, digests, pub, other_pub, bundle, run)
        finally:
            for reg in registries.values():
                if reg.proc is not None:
                    stop_process(reg.proc)


@pytest.fixture
def lab(module_lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Lab:
    monkeypatch.setenv("HARBOURMASTER_HOME", str(module_lab.home))
    return module_lab


def _import(lab: Lab, bundle: Path, target: str, *extra: str) -> Result:
    return lab.run("airgap", "import", str(bundle), "--to", target, "--key", str(lab.pub), "--json", *extra)


def _bundle_manifest(bundle: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((bundle / "manifest.json").read_bytes())
    return result


def test_the_bundle_holds_a_signed_manifest_an_oci_layout_and_checksums(lab: Lab) -> None:
    manifest = _bundle_manifest(lab.bundle)
    images = {i["path"]: i for i in manifest["images"]}
    assert images["team/app"]["digest"] == lab.digests["app"]
    assert images["team/multi"]["digest"] == lab.digests["multi"]
    assert len(images["team/multi"]["platforms"]) == 2
    app_refs = images["team/app"]["referrers"]
    assert {r["digest"] for r in app_refs if r["artifact_type"] == SBOM_TYPE} == {lab.digests["sbom"]}
    assert any(r["tag"] == f"sha256-{lab.digests['app'][7:]}.sig" for r in app_refs)
    assert any(
        r["artifact_type"] and "sigstore" in r["artifact_type"] for r in images["team/multi"]["referrers"]
    )
    assert manifest["signer"] == "airgap-key" and manifest["since"] is None
    # The manifest signature verifies with verify-blob (and with nothing but the public key).
    verified = lab.run(
        "verify-blob",
        str(lab.bundle / "manifest.json"),
        "--signature",
        str(lab.bundle / "manifest.json.sig"),
        "--key",
        str(lab.pub),
    )
    assert verified.exit_code == 0, verified.output
    # sha256sum -c agrees with every file.
    check = subprocess.run(
        ["sha256sum", "-c", "--quiet", "checksums.sha256"], cwd=lab.bundle, capture_output=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # skopeo reads the OCI layout: the image at its tag is the source's.
    out = lab.root / "from-layout"
    skopeo(
        None,
        "copy",
        f"oci:{lab.bundle / 'oci'}:{lab.registries['connected'].host}/team/app:v1",
        f"oci:{out}:x",
    )
    assert (out / "blobs" / "sha256" / lab.digests["app"][7:]).exists()


def test_import_writes_exactly_the_approved_content_and_signatures_verify_there(lab: Lab) -> None:
    dst = lab.registries["disconnected"]
    result = _import(lab, lab.bundle, "disconnected")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["tags_set"] == 2 and info["blobs_pushed"] > 0
    assert _catalog(dst) == {"team/app", "team/multi"}
    manifest = _bundle_manifest(lab.bundle)
    for image in manifest["images"]:
        repo = image["path"]
        assert _digest(dst, f"{repo}:v1") == image["digest"]
        # Every manifest of the bundle is there, byte for byte; nothing else is tagged.
        for entry in [image, *image["platforms"], *image["referrers"]]:
            assert _raw(dst, f"{repo}@{entry['digest']}") == _raw(
                lab.registries["connected"], f"{repo}@{entry['digest']}"
            )
        referrer_tags = {r["tag"] for r in image["referrers"] if r["tag"]}
        schema_tags = {f"sha256-{r['subject'][7:]}" for r in image["referrers"] if not r["tag"]}
        assert _tags(dst, repo) == {"v1", *referrer_tags, *schema_tags}
    # The platform images are complete (skopeo copies every blob of the index out).
    skopeo(dst, "copy", "--all", f"docker://{dst.host}/team/multi:v1", f"oci:{lab.root / 'multi-out'}:v1")
    for image in ("team/app:v1", "team/multi:v1"):
        verified = lab.run("verify", lab.ref("disconnected", image), "--key", str(lab.pub))
        assert verified.exit_code == 0, verified.output
    from harbourmaster.cli._common import open_core

    with open_core().store.read() as tx:
        assert tx.approved_content.approved_digests("disconnected") == {
            lab.digests["app"],
            lab.digests["multi"],
        }
    # A second run finds everything there and changes nothing.
    before = _storage(dst)
    again = _import(lab, lab.bundle, "disconnected")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["blobs_pushed"] == 0 and json.loads(again.stdout)["tags_set"] == 0
    assert [p for p in _storage(dst) if "_uploads" not in p] == [p for p in before if "_uploads" not in p]


def _corrupt_blob(bundle: Path) -> str:
    blobs = sorted((bundle / "oci" / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    victim = blobs[-1]
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    return f"oci/blobs/sha256/{victim.name}"


def _extra_file(bundle: Path) -> str:
    (bundle / "oci" / "blobs" / "sha256" / "extra").write_bytes(b"smuggled")
    return "oci/blobs/sha256/extra"


def _missing_file(bundle: Path) -> str:
    victim = next(p for p in sorted((bundle / "oci" / "blobs" / "sha256").iterdir()))
    victim.unlink()
    return f"oci/blobs/sha256/{victim.name}"


def _edited_manifest(bundle: Path) -> str:
    doc = json.loads((bundle / "manifest.json").read_bytes())
    doc["images"][0]["tags"] = ["v1", "latest"]
    (bundle / "manifest.json").write_bytes(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode())
    return "manifest.json.sig"


def _reordered_manifest(bundle: Path) -> str:
    doc = json.loads((bundle / "manifest.json").read_bytes())
    (bundle / "manifest.json").write_bytes(
        json.dumps(dict(reversed(list(doc.items()))), separators=(",", ":")).encode()
    )
    return "manifest.json.sig"


def _checksum_line(bundle: Path) -> str:
    lines = (bundle / "checksums.sha256").read_text().splitlines()
    _, path = lines[1].split("  ", 1)
    lines[1] = f"{'0' * 64}  {path}"
    (bundle / "checksums.sha256").write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("tamper", "check"),
    [
        (_corrupt_blob, "sha256"),
        (_extra_file, "file list"),
        (_missing_file, "file list"),
        (_edited_manifest, "signature"),
        (_reordered_manifest, "signature"),
        (_checksum_line, "checksums"),
    ],
    ids=["changed-blob", "extra-file", "missing-file", "edited-manifest", "reordered-manifest", "checksums"],
)
def test_a_tampered_bundle_is_refused_naming_the_file_and_nothing_is_written(
    lab: Lab, tmp_path: Path, tamper: Callable[[Path], str], check: str
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(lab.bundle, bundle)
    file = tamper(bundle)
    result = _import(lab, bundle, "tamper")
    assert result.exit_code == 1, result.output
    assert f"{file}: {check} failed" in result.stderr, result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert _storage(lab.registries["tamper"]) == []


def test_a_signature_by_another_key_is_refused(lab: Lab, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(lab.bundle, bundle)
    resigned = lab.run(
        "sign-blob",
        str(bundle / "manifest.json"),
        "--signing-key",
        "other-key",
        "--output-signature",
        str(bundle / "manifest.json.sig"),
    )
    assert resigned.exit_code == 0, resigned.output
    result = _import(lab, bundle, "tamper")
    assert result.exit_code == 1
    assert "manifest.json.sig: signature failed" in result.stderr
    # The same bundle verifies with the other key: only the key given is trusted.
    assert _storage(lab.registries["tamper"]) == []
    assert (
        lab.run("airgap", "import", str(bundle), "--to", "other", "--key", str(lab.other_pub)).exit_code == 0
    )
    assert _digest(lab.registries["other"], "team/app:v1") == lab.digests["app"]


def test_emergency_needs_a_reason_and_is_audited(lab: Lab) -> None:
    refused = _import(lab, lab.bundle, "emergency", "--emergency")
    assert refused.exit_code == 2 and "--reason" in refused.stderr
    done = _import(lab, lab.bundle, "emergency", "--emergency", "--reason", "CVE-2026-0001 hotfix")
    assert done.exit_code == 0, done.output
    exported = lab.run("audit", "export")
    records = [json.loads(line) for line in exported.stdout.splitlines() if "airgap.import" in line]
    assert any(
        r.get("details", {}).get("emergency") is True and r["details"].get("reason") == "CVE-2026-0001 hotfix"
        for r in records
    ), records[-1:]


def test_an_import_killed_halfway_resumes_and_ends_identical(lab: Lab, tmp_path: Path) -> None:
    src, dst = lab.registries["connected"], lab.registries["killed"]
    image_set = _image_set(tmp_path / "big.yaml", [f"{src.host}/team/big:v1", f"{src.host}/team/app:v1"])
    bundle = tmp_path / "big-bundle"
    assert lab.run("airgap", "export", "-f", str(image_set), "-o", str(bundle)).exit_code == 0
    command = [
        sys.executable,
        "-m",
        "harbourmaster",
        "airgap",
        "import",
        str(bundle),
        "--to",
        "killed",
        "--key",
        str(lab.pub),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    blobs = dst.root / "data" / "docker" / "registry" / "v2" / "blobs" / "sha256"
    deadline = time.monotonic() + 60
    try:
        while not (blobs.exists() and any(blobs.glob("*/*/data"))):
            assert proc.poll() is None, f"import ended before any blob landed: {proc.communicate()}"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    # Killed after some blobs and before the tags: nothing is visible under a tag.
    tags_dir = (
        dst.root
        / "data"
        / "docker"
        / "registry"
        / "v2"
        / "repositories"
        / "team"
        / "big"
        / "_manifests"
        / "tags"
    )
    assert not tags_dir.exists()
    rerun = subprocess.run([*command, "--json"], capture_output=True, timeout=300, env=dict(os.environ))
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["blobs_present"] > 0  # what the killed run pushed was kept
    fresh = tmp_path / "fresh"
    assert _digest(dst, "team/big:v1") == lab.digests["big"]
    skopeo(dst, "copy", f"docker://{dst.host}/team/big:v1", f"oci:{fresh}:v1")
    for layer in json.loads(_raw(dst, "team/big:v1"))["layers"]:
        assert (fresh / "blobs" / "sha256" / layer["digest"][7:]).stat().st_size == layer["size"]
    expected = {
        tag
        for image in _bundle_manifest(bundle)["images"]
        if image["path"] == "team/app"
        for tag in [*image["tags"], *(r["tag"] or f"sha256-{r['subject'][7:]}" for r in image["referrers"])]
    }
    assert _tags(dst, "team/app") == expected
    third = subprocess.run([*command, "--json"], capture_output=True, timeout=300, env=dict(os.environ))
    assert json.loads(third.stdout)["blobs_pushed"] == 0


def test_a_delta_bundle_imports_on_top_of_the_earlier_one(lab: Lab, tmp_path: Path) -> None:
    src, dst = lab.registries["connected"], lab.registries["delta"]
    assert _import(lab, lab.bundle, "delta").exit_code == 0
    # v2 shares v1's two layers and adds a third.
    v2 = _push(src, tmp_path / "app2", "team/app", seed="app", tag="v2", layer_sizes=(4096, 20000, 30000))
    image_set = _image_set(
        tmp_path / "delta.yaml",
        [f"{src.host}/team/app:v1", f"{src.host}/team/app:v2", f"{src.host}/team/multi:v1"],
    )
    delta = tmp_path / "delta"
    exported = lab.run(
        "airgap",
        "export",
        "-f",
        str(image_set),
        "-o",
        str(delta),
        "--since",
        str(lab.bundle / "manifest.json"),
        "--json",
    )
    assert exported.exit_code == 0, exported.output
    info = json.loads(exported.stdout)
    assert info["omitted"] > 0
    manifest = _bundle_manifest(delta)
    old_blobs = {b["digest"] for b in _bundle_manifest(lab.bundle)["blobs"]}
    carried = {b["digest"] for b in manifest["blobs"]}
    manifests = {e["digest"] for i in manifest["images"] for e in [i, *i["referrers"], *i["platforms"]]}
    assert (carried & old_blobs) - manifests == set()  # only manifests are carried again
    # The delta cannot go into an empty registry: what it builds on is not there.
    refused = _import(lab, delta, "tamper")
    assert refused.exit_code == 2 and "import that bundle first" in refused.stderr
    assert _storage(lab.registries["tamper"]) == []
    done = _import(lab, delta, "delta")
    assert done.exit_code == 0, done.output
    assert _digest(dst, "team/app:v2") == v2
    skopeo(dst, "copy", f"docker://{dst.host}/team/app:v2", f"oci:{tmp_path / 'v2-out'}:v2")
    diff = lab.run(
        "airgap", "diff", str(lab.bundle / "manifest.json"), str(delta / "manifest.json"), "--json"
    )
    assert diff.exit_code == 0, diff.output
    changes = json.loads(diff.stdout)
    assert changes["images_added"] == [f"{src.host}/team/app@{v2}"]
    assert changes["tags_added"] == [f"{src.host}/team/app:v2"]
    assert changes["images_removed"] == [] and changes["tags_removed"] == []
    text = lab.run("airgap", "diff", str(lab.bundle / "manifest.json"), str(delta / "manifest.json"))
    assert f"+ tag {src.host}/team/app:v2" in text.stdout and f"+ {src.host}/team/app@{v2}" in text.stdout


def test_a_split_bundle_imports_and_a_missing_part_is_refused(lab: Lab, tmp_path: Path) -> None:
    src, dst = lab.registries["connected"], lab.registries["split"]
    image_set = _image_set(tmp_path / "split.yaml", [f"{src.host}/team/split:v1", f"{src.host}/team/app:v1"])
    bundle = tmp_path / "split-bundle"
    exported = lab.run(
        "airgap", "export", "-f", str(image_set), "-o", str(bundle), "--split-size", "1MiB", "--json"
    )
    assert exported.exit_code == 0, exported.output
    parts = sorted(p.name for p in bundle.iterdir() if p.name.startswith("part-"))
    assert len(parts) >= 3
    for part in parts:
        assert sum(f.stat().st_size for f in (bundle / part).rglob("*") if f.is_file()) <= 1024 * 1024
    pieces = sorted(bundle.rglob("*.piece*"))
    assert len(pieces) >= 3
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    missing = broken / pieces[1].relative_to(bundle)
    shutil.rmtree(missing.parents[3])  # the whole part
    refused = _import(lab, broken, "split")
    assert refused.exit_code == 1 and "file list failed: missing" in refused.stderr, refused.stderr
    assert _storage(dst) == []
    done = _import(lab, bundle, "split")
    assert done.exit_code == 0, done.output
    assert _digest(dst, "team/split:v1") == lab.digests["huge"]
    skopeo(dst, "copy", f"docker://{dst.host}/team/split:v1", f"oci:{tmp_path / 'split-out'}:v1")


APPROVED_ONLY = """\
users:
  - name: airgap-dev
    role: team-member
access:
  - environment: dev
    user: airgap-dev
grants:
  - registry: approved
    environment: dev
    users: [airgap-dev]
tiers:
  development: {{require_approved_content: {on}}}
"""


def test_a_tier_requiring_approved_content_admits_an_image_only_once_imported(lab: Lab) -> None:
    # The disconnected registry already holds the image (copied by hand, not imported): on a tier that
    # admits only approved content, check denies it until airgap import has recorded it there.
    src, dst = lab.registries["connected"], lab.registries["approved"]
    skopeo(src, "copy", "--all", f"docker://{src.host}/team/app:v1", f"docker://{dst.host}/team/app:v1")
    base = (lab.root / "governance.yaml").read_text()
    doc = lab.root / "approved-only.yaml"

    def tier(on: bool) -> None:
        doc.write_text(base + APPROVED_ONLY.format(on="true" if on else "false"))
        applied = lab.run("apply", "-f", str(doc))
        assert applied.exit_code == 0, applied.output

    def check() -> Result:
        image = lab.ref("approved", "team/app:v1")
        return lab.run("check", "--env", "dev", "--user", "airgap-dev", image, "--json")

    tier(False)
    try:
        allowed = check()
        assert allowed.exit_code == 0, allowed.output
        tier(True)
        denied = check()
        assert denied.exit_code == 1, denied.output
        (row,) = json.loads(denied.stdout)
        assert row["digest"] == lab.digests["app"] and row["verdict"]["source"]["status"] == "denied"
        assert any(
            f"{lab.digests['app']} is not approved content of registry approved" in r
            and "harbourmaster airgap import BUNDLE --to approved" in r
            for r in row["reasons"]
        ), row["reasons"]
        shown = json.loads(lab.run("policy", "show", "--env", "dev", "--json").stdout)
        assert shown["require_approved_content"] is True

        imported = _import(lab, lab.bundle, "approved")
        assert imported.exit_code == 0, imported.output
        admitted = check()
        assert admitted.exit_code == 0, admitted.output
        (row,) = json.loads(admitted.stdout)
        assert row["allowed"] and row["verdict"]["source"]["status"] == "allowed"
        approved = f"{lab.digests['app']} is approved content of registry approved"
        assert f"{approved} (recorded by airgap import)" in row["reasons"]
    finally:
        tier(False)


def _cosign_tag(registry: RunningRegistry, repo: str, tag: str, media_type: str, payload: bytes) -> str:
    """An OCI manifest with one small layer written by hand at ``tag`` (as cosign writes its
    ``sha256-<hex>.att`` and ``.sbom`` tags); its digest."""

    async def push() -> str:
        async with registry.client() as client:
            layer = await client.upload_blob(repo, payload)
            config = await client.upload_blob(repo, b"{}")
            manifest = {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": config,
                    "size": 2,
                },
                "layers": [{"mediaType": media_type, "digest": layer, "size": len(payload)}],
            }
            raw = json.dumps(manifest).encode()
            await client.put_manifest(repo, tag, raw, media_type=OCI_MANIFEST)
            head = await client.head_manifest(repo, tag)
            return str(head.digest)

    return asyncio.run(push())


def test_cosign_attestation_and_sbom_tags_are_carried_and_pushed_before_the_tags(
    lab: Lab, tmp_path: Path
) -> None:
    src, dst = lab.registries["connected"], lab.registries["cosign"]
    digest = _push(src, tmp_path / "att", "team/att", seed="att", layer_sizes=(3000,))
    base = f"sha256-{digest[7:]}"
    envelope = json.dumps(
        {"payloadType": "application/vnd.in-toto+json", "payload": "e30=", "signatures": []}
    )
    att = _cosign_tag(
        src, "team/att", f"{base}.att", "application/vnd.dsse.envelope.v1+json", envelope.encode()
    )
    sbom = _cosign_tag(src, "team/att", f"{base}.sbom", "text/spdx+json", b'{"spdxVersion":"SPDX-2.3"}')
    bundle = tmp_path / "bundle"
    image_set = _image_set(tmp_path / "att.yaml", [f"{src.host}/team/att:v1"])
    exported = lab.run("airgap", "export", "-f", str(image_set), "-o", str(bundle))
    assert exported.exit_code == 0, exported.output
    (image,) = _bundle_manifest(bundle)["images"]
    assert {(r["tag"], r["digest"]) for r in image["referrers"]} == {
        (f"{base}.att", att),
        (f"{base}.sbom", sbom),
    }
    result = _import(lab, bundle, "cosign")
    assert result.exit_code == 0, result.output
    assert _tags(dst, "team/att") == {"v1", f"{base}.att", f"{base}.sbom"}
    for tag, want in ((f"{base}.att", att), (f"{base}.sbom", sbom)):
        assert _digest(dst, f"team/att:{tag}") == want
        assert _raw(dst, f"team/att:{tag}") == _raw(src, f"team/att:{tag}")
        # skopeo reads each at the target, layer and all.
        out = tmp_path / f"read-{tag}"
        skopeo(dst, "copy", f"docker://{dst.host}/team/att:{tag}", f"oci:{out}:x")
        layer = json.loads(_raw(dst, f"team/att:{tag}"))["layers"][0]
        assert (out / "blobs" / "sha256" / layer["digest"][7:]).stat().st_size == layer["size"]


def _cyclonedx(path: Path, purls: list[str]) -> Path:
    components = [{"type": "library", "name": p.split("/")[-1].split("@")[0], "purl": p} for p in purls]
    for component, purl in zip(components, purls, strict=True):
        component["version"] = purl.split("@")[1].split("?")[0]
    path.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": components}))
    return path


def _findings(lab: Lab, sbom: Path) -> list[dict[str, Any]]:
    scanned = lab.run("scan", str(sbom), "--format", "json")
    assert scanned.exit_code in (0, 1), scanned.output
    findings: list[dict[str, Any]] = json.loads(scanned.stdout)["findings"]
    return sorted(findings, key=lambda f: json.dumps(f, sort_keys=True))


def _fresh_home(lab: Lab, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARBOURMASTER_HOME", str(home))
    assert lab.run("init").exit_code == 0
    applied = lab.run("apply", "-f", str(lab.root / "governance.yaml"))
    assert applied.exit_code == 0, applied.output


def _advisory_count(lab: Lab) -> int:
    status = lab.run("vulndb", "status", "--json")
    assert status.exit_code == 0, status.output
    count: int = json.loads(status.stdout)["advisories"]
    return count


def test_a_bundle_carries_the_advisory_database_and_the_disconnected_zone_scans_alike(
    lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = lab.registries["connected"]
    corpus = every_shape()
    imported = lab.run("vulndb", "import", str(write_zip(tmp_path / "all.zip", corpus)), "--strict")
    assert imported.exit_code == 0, imported.output
    sbom = _cyclonedx(tmp_path / "sbom.cdx.json", EVERY_SHAPE_SBOM)
    connected = _findings(lab, sbom)
    assert len(connected) >= 10
    bundle = tmp_path / "bundle"
    image_set = _image_set(tmp_path / "app.yaml", [f"{src.host}/team/app:v1"])
    exported = lab.run("airgap", "export", "-f", str(image_set), "-o", str(bundle), "--advisories", "--json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["advisories"] >= len(corpus)
    manifest = _bundle_manifest(bundle)
    (archive,) = manifest["advisories"]
    assert archive["path"] == "advisories/osv-0001.zip" and archive["files"] == [archive["path"]]
    assert archive["path"] in {f["path"] for f in manifest["files"]}
    check = subprocess.run(
        ["sha256sum", "-c", "--quiet", "checksums.sha256"], cwd=bundle, capture_output=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    # vulndb import reads the archive as it is.
    assert lab.run("vulndb", "import", str(bundle / archive["path"]), "--strict").exit_code == 0

    # Tampered: refused like any other file, nothing pushed and no advisory imported.
    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    data = bytearray((tampered / archive["path"]).read_bytes())
    data[len(data) // 2] ^= 0x01
    (tampered / archive["path"]).write_bytes(bytes(data))
    _fresh_home(lab, tmp_path / "refusing", monkeypatch)
    refused = _import(lab, tampered, "tamper")
    assert refused.exit_code == 1, refused.output
    assert f"{archive['path']}: sha256 failed" in refused.stderr, refused.stderr
    assert _storage(lab.registries["tamper"]) == [] and _advisory_count(lab) == 0
    # --no-advisories: the images only.
    skipped = _import(lab, bundle, "fresh", "--no-advisories")
    assert skipped.exit_code == 0, skipped.output
    assert json.loads(skipped.stdout)["advisories"] is None and _advisory_count(lab) == 0

    # A fresh disconnected harbourmaster: the images and the advisories, which match the SBOM alike.
    _fresh_home(lab, tmp_path / "disconnected", monkeypatch)
    assert _findings(lab, sbom) == []
    done = _import(lab, bundle, "fresh")
    assert done.exit_code == 0, done.output
    counts = json.loads(done.stdout)["advisories"]
    assert counts["records"] == counts["inserted"] == archive["records"] and counts["skipped"] == 0
    assert _findings(lab, sbom) == connected
    audit = [json.loads(line) for line in lab.run("audit", "export").stdout.splitlines()]
    assert any(r.get("action") == "vulndb.import" for r in audit)
    (record,) = [r for r in audit if r.get("action") == "airgap.import"]
    assert record["details"]["advisory_import"]["inserted"] == counts["inserted"]
    # A second import of the same bundle changes nothing.
    again = json.loads(_import(lab, bundle, "fresh").stdout)["advisories"]
    assert again["inserted"] == again["updated"] == 0 and again["unchanged"] == counts["records"]
