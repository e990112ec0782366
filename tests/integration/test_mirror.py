"""``harbourmaster mirror`` end to end: two real CNCF distribution registries (a connected source and an
internal target), skopeo as the independent reader, a kept advisory that makes one image fail its tier.

The source holds a tagged image signed (cosign ``.sig``) with an upstream key and with an SBOM referrer
written by hand, an image named by digest, tags picked by a regex and by a semver range, a multi-arch
index and a Helm chart (an OCI artifact).  After mirroring, skopeo reads the target: exact digests,
every platform, the referrers (by the ``sha256-<hex>`` tag fallback: this registry has no referrers
API), the merged signatures; ``verify --key`` accepts the target signature; the failing image is
absent; a second run copies nothing.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from harbourmaster.cli.main import app
from harbourmaster.registry.media import OCI_EMPTY, OCI_MANIFEST, compute_digest
from tests.components import ensure_binary, stop_process
from tests.integration.registry_fixtures import (
    RunningRegistry,
    push_dpkg_image,
    skopeo,
    start_registry,
    write_image_layout,
)

pytestmark = pytest.mark.integration

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
SBOM_TYPE = "application/vnd.cyclonedx+json"

GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - {{name: connected, provider: custom, url: "http://{source}", tls: {{insecure: true}}}}
  - {{name: internal, provider: custom, url: "http://{target}", tls: {{insecure: true}}}}
environments:
  - {{name: dev, kind: docker-standalone, tier: development}}
users:
  - name: dev-user
access:
  - {{environment: dev, user: dev-user}}
grants:
  - {{registry: internal, environment: dev, users: [dev-user]}}
  - {{registry: connected, environment: dev, users: [dev-user]}}
"""

ADVISORY = {
    "id": "DSA-HM-MIRROR-1",
    "modified": "2026-01-10T00:00:00Z",
    "affected": [
        {
            "package": {"ecosystem": "Debian:12", "name": "bash"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99:1"}]}],
        }
    ],
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
}


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


@dataclass
class Lab:
    source: RunningRegistry
    target: RunningRegistry
    root: Path
    digests: dict[str, str]
    extras: dict[str, str]
    run: Callable[..., Result]


def _push(reg: RunningRegistry, root: Path, repo: str, tag: str, **kwargs: Any) -> str:
    layout = root / f"{repo.replace('/', '_')}-{tag}"
    write_image_layout(layout, tag=tag, seed=f"{repo}/{tag}", layer_sizes=(2048, 8192), **kwargs)
    skopeo(reg, "copy", "--all", f"oci:{layout}:{tag}", f"docker://{reg.host}/{repo}:{tag}")
    return _digest(reg, f"{repo}:{tag}")


def _digest(reg: RunningRegistry, ref: str) -> str:
    return str(compute_digest(skopeo(reg, "inspect", "--raw", f"docker://{reg.host}/{ref}").encode()))


def _raw(reg: RunningRegistry, ref: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(skopeo(reg, "inspect", "--raw", f"docker://{reg.host}/{ref}"))
    return result


def _absent(reg: RunningRegistry, ref: str) -> bool:
    binary = ensure_binary("skopeo", "skopeo")
    done = subprocess.run(
        [binary, "inspect", "--tls-verify=false", "--raw", f"docker://{reg.host}/{ref}"],
        capture_output=True,
        check=False,
        timeout=60,
    )
    return done.returncode != 0


async def _push_artifacts(source: RunningRegistry, app_digest: str) -> dict[str, str]:
    """A Helm chart (an OCI artifact) and an SBOM referrer of ``lab/app``, written with the client."""
    async with source.client() as client:
        chart = b"\x1f\x8b" + b"chart-bytes" * 50
        config = json.dumps({"name": "web", "version": "1.2.0", "apiVersion": "v2"}).encode()
        await client.upload_blob("lab/chart", chart)
        await client.upload_blob("lab/chart", config)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": HELM_CONFIG, "digest": compute_digest(config), "size": len(config)},
                "layers": [{"mediaType": HELM_CHART, "digest": compute_digest(chart), "size": len(chart)}],
            }
        ).encode()
        chart_digest = await client.put_manifest("lab/chart", "1.2.0", manifest, media_type=OCI_MANIFEST)
        sbom = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []}).encode()
        empty = b"{}"
        await client.upload_blob("lab/app", sbom)
        await client.upload_blob("lab/app", empty)
        head = await client.head_manifest("lab/app", app_digest)
        referrer = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": SBOM_TYPE,
                "config": {"mediaType": OCI_EMPTY, "digest": compute_digest(empty), "size": 2},
                "layers": [{"mediaType": SBOM_TYPE, "digest": compute_digest(sbom), "size": len(sbom)}],
                "subject": {"mediaType": OCI_MANIFEST, "digest": app_digest, "size": head.size},
            }
        ).encode()
        sbom_digest = await client.put_manifest(
            "lab/app", compute_digest(referrer), referrer, media_type=OCI_MANIFEST
        )
    return {"chart": str(chart_digest), "sbom": str(sbom_digest)}


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    source = start_registry(tmp_path / "connected")
    target = start_registry(tmp_path / "internal")
    try:
        root = tmp_path / "images"
        digests = {
            "app": _push(source, root, "lab/app", "v1"),
            "tool": _push(source, root, "lab/tool", "t1"),
            "svc-1.4.0": _push(source, root, "lab/svc", "v1.4.0"),
            "svc-1.4.1": _push(source, root, "lab/svc", "v1.4.1"),
            "svc-2.0.0": _push(source, root, "lab/svc", "v2.0.0"),
            "lib-2.0.0": _push(source, root, "lab/lib", "2.0.0"),
            "lib-2.1.0": _push(source, root, "lab/lib", "2.1.0"),
            "lib-3.0.0": _push(source, root, "lab/lib", "3.0.0"),
            "multi": _push(source, root, "lab/multi", "v1", architectures=("amd64", "arm64")),
            "bad": push_dpkg_image(source, root / "bad", "lab/bad"),
        }
        extras = run(_push_artifacts(source, digests["app"]))
        runner = CliRunner()

        def invoke(*args: str) -> Result:
            return runner.invoke(app, list(args), catch_exceptions=False)

        doc = tmp_path / "governance.yaml"
        doc.write_text(GOVERNANCE.format(source=source.host, target=target.host))
        advisory = tmp_path / "advisory.json"
        advisory.write_text(json.dumps(ADVISORY))
        for args in (
            ("init",),
            ("apply", "-f", str(doc)),
            ("vulndb", "import", str(advisory)),
            ("signing-key", "generate", "upstream"),
            ("signing-key", "generate", "ci-release"),
            ("sign", f"{source.host}/lab/app:v1", "--signing-key", "upstream"),
        ):
            result = invoke(*args)
            assert result.exit_code == 0, (args, result.output)
        yield Lab(source, target, tmp_path, digests, extras, invoke)
    finally:
        stop_process(source.proc)  # type: ignore[arg-type]
        stop_process(target.proc)  # type: ignore[arg-type]


IMAGE_SET = """\
apiVersion: harbourmaster.io/v1
kind: ImageSet
signer: ci-release
images:
  - {source}/lab/app:v1
  - {source}/lab/tool@{tool}
  - {{name: {source}/lab/svc, tags: ['^v1\\.4\\.[0-9]+$']}}
  - {{name: {source}/lab/lib, semver: '>=2.1 <3'}}
  - {source}/lab/multi:v1
  - {{name: {source}/lab/chart, tags: ['1.2.0']}}
  - {source}/lab/bad:v1
"""


def test_mirror_copies_vetted_images_with_referrers_signs_them_and_skips_on_rerun(lab: Lab) -> None:
    src, dst, d = lab.source, lab.target, lab.digests
    image_set = lab.root / "set.yaml"
    image_set.write_text(IMAGE_SET.format(source=src.host, tool=d["tool"]))

    first = lab.run("mirror", "-f", str(image_set), "--to", "internal", "--json")
    assert first.exit_code == 1, first.output  # one image refused, the rest mirrored
    result = json.loads(first.stdout)
    assert result["tier"] == "development"  # the strictest tier the target is granted to
    by_source = {i["source"].split("@")[0].split("/", 1)[1]: i for i in result["images"]}
    outcomes = {i["source"].split("/", 1)[1]: i["outcome"] for i in result["images"]}
    assert sorted(outcomes.values()).count("copied") == 7, outcomes  # svc: two tags, two images
    assert (result["copied"], result["skipped"], result["refused"]) == (7, 0, 1)
    bad = by_source["lab/bad"]
    assert (
        bad["outcome"] == "refused"
        and bad["blocking"][0].startswith("DSA-HM-MIRROR-1 (Critical")
        and bad["findings"] >= 1
    )
    assert bad["path"] == "images[6]"
    chart = by_source["lab/chart"]
    assert chart["kind"] == "artifact" and not chart["scanned"] and "no scan" in chart["scan_note"]
    assert by_source["lab/multi"]["kind"] == "index"

    # skopeo reads the target: the exact digests under the exact tags, and only what was selected.
    for ref, key in (("lab/app:v1", "app"), ("lab/svc:v1.4.0", "svc-1.4.0"), ("lab/svc:v1.4.1", "svc-1.4.1"),
                     ("lab/lib:2.1.0", "lib-2.1.0"), ("lab/multi:v1", "multi")):  # fmt: skip
        assert _digest(dst, ref) == d[key], ref
    assert _digest(dst, f"lab/tool@{d['tool']}") == d["tool"]
    assert _digest(dst, "lab/chart:1.2.0") == lab.extras["chart"]
    for absent in ("lab/svc:v2.0.0", "lab/lib:2.0.0", "lab/lib:3.0.0", "lab/bad:v1", f"lab/bad@{d['bad']}"):
        assert _absent(dst, absent), absent
    index = _raw(dst, "lab/multi:v1")
    platforms = {m["platform"]["architecture"]: m["digest"] for m in index["manifests"]}
    assert set(platforms) == {"amd64", "arm64"}
    for child in platforms.values():
        assert _digest(dst, f"lab/multi@{child}") == child
        config = json.loads(
            skopeo(dst, "inspect", "--raw", "--config", f"docker://{dst.host}/lab/multi@{child}")
        )
        assert config["architecture"] in platforms

    # Referrers, by the tag fallback: the SBOM artifact is there, with its subject intact.
    app_hex = d["app"].removeprefix("sha256:")
    referrers = _raw(dst, f"lab/app:sha256-{app_hex}")
    assert lab.extras["sbom"] in [m["digest"] for m in referrers["manifests"]]
    sbom = _raw(dst, f"lab/app@{lab.extras['sbom']}")
    assert sbom["subject"]["digest"] == d["app"] and sbom["artifactType"] == SBOM_TYPE
    # The upstream signature travelled and the target's own was added beside it.
    sig = _raw(dst, f"lab/app:sha256-{app_hex}.sig")
    assert len(sig["layers"]) == 2
    assert len(_raw(src, f"lab/app:sha256-{app_hex}.sig")["layers"]) == 1
    assert by_source["lab/app"]["signature_digest"] == _digest(dst, f"lab/app:sha256-{app_hex}.sig")

    public = lab.run("signing-key", "public", "ci-release")
    assert public.exit_code == 0, public.output
    pub = lab.root / "ci-release.pub"
    pub.write_text(public.stdout)
    for ref in ("lab/app:v1", "lab/multi:v1", "lab/chart:1.2.0"):
        verified = lab.run("verify", f"{dst.host}/{ref}", "--key", str(pub))
        assert verified.exit_code == 0, (ref, verified.output)

    # A second run copies nothing: every image is there by digest (the failing one is refused again).
    second = lab.run("mirror", "-f", str(image_set), "--to", "internal", "--json")
    assert second.exit_code == 1, second.output
    again = json.loads(second.stdout)
    assert (again["copied"], again["skipped"], again["refused"]) == (0, 7, 1)
    assert all(i["blobs"] == 0 and not i["referrers"] for i in again["images"])
    assert _raw(dst, f"lab/app:sha256-{app_hex}.sig") == sig  # the signatures are kept, not overwritten

    exported = lab.run("audit", "export")
    assert exported.exit_code == 0
    records = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    images = [r for r in records if r.get("action") == "mirror.image"]
    runs = [r for r in records if r.get("action") == "mirror.run"]
    assert len(images) == 16 and len(runs) == 2
    assert sorted(r["details"]["outcome"] for r in images).count("skipped") == 7
