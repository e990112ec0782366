#!/usr/bin/env python3
"""Pull throughput: harbourmaster's registry client versus ``skopeo copy``.

Run on demand (not part of the test suite)::

    .venv/bin/python bench/pull.py [--size-mb 200] [--layers 5] [--rounds 3]

1. Builds, once, an OCI image layout of ``--size-mb`` MB in ``--layers`` gzip layers of
   incompressible data, cached under ``.bench/pull-image`` (git-ignored).
2. Starts ``docker-registry`` on 127.0.0.1 (temporary storage) and pushes the image with skopeo.
3. Per round, pulls it through our client (``pull_to_layout``: manifests, then every blob
   streamed to disk and SHA-256-verified while streaming, layers fetched concurrently) into a
   fresh OCI layout directory, and times ``skopeo copy docker://... oci:DIR`` of the same image
   to a fresh directory.  Both write real files to the same file system.
4. Prints both throughputs (MB/s of blob bytes) for the best and median round, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from harbourmaster.registry import ClientOptions, RegistryClient, RegistryEndpoint, TransportSecurity  # noqa: E402
from harbourmaster.registry.layout import pull_to_layout  # noqa: E402

CACHE = ROOT / ".bench"
REPO = "bench/big"


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def build_image(size_mb: int, layers: int) -> Path:
    layout = CACHE / f"pull-image-{size_mb}mb-{layers}l"
    if (layout / "index.json").exists():
        return layout
    tmp = layout.with_name(layout.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    per_layer = size_mb * 1024 * 1024 // layers
    descriptors, diff_ids = [], []
    for i in range(layers):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(f"data/layer-{i}.bin")
            info.size = per_layer
            tar.addfile(info, io.BytesIO(os.urandom(per_layer)))
        raw = buf.getvalue()
        diff_ids.append(f"sha256:{hashlib.sha256(raw).hexdigest()}")
        desc = _blob(tmp, gzip.compress(raw, compresslevel=1, mtime=0))
        descriptors.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **desc})
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": "2024-01-01T00:00:00Z",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(tmp, config)},
            "layers": descriptors,
        }
    ).encode()
    top = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        **_blob(tmp, manifest),
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
    }
    (tmp / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (tmp / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    tmp.rename(layout)
    return layout


def blob_bytes(layout: Path) -> int:
    return sum(p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir())


def start_registry(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(workdir / "data")}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    (workdir / "config.yml").write_text(json.dumps(config))
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(workdir / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://{host}/v2/", timeout=1).status_code == 200:
                return proc, host
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("docker-registry did not start")


async def pull_ours(host: str, dest: Path, concurrency: int) -> None:
    options = ClientOptions(concurrency=concurrency)
    async with RegistryClient(
        RegistryEndpoint(host, TransportSecurity(plain_http=True)), options=options, development_only=True
    ) as client:
        await pull_to_layout(client, REPO, "v1", dest)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=6)
    args = parser.parse_args()
    for tool in ("docker-registry", "skopeo"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt-get install docker-registry skopeo)")
    started = time.perf_counter()
    layout = build_image(args.size_mb, args.layers)
    total = blob_bytes(layout)
    print(
        f"image: {layout} ({total / 1e6:.1f} MB of blobs, {args.layers} layers; "
        f"ready in {time.perf_counter() - started:.1f}s)"
    )
    CACHE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE, prefix="run-") as tmp:
        work = Path(tmp)
        proc, host = start_registry(work)
        try:
            subprocess.run(
                [
                    "skopeo",
                    "--insecure-policy",
                    "copy",
                    "--dest-tls-verify=false",
                    f"oci:{layout}:v1",
                    f"docker://{host}/{REPO}:v1",
                ],
                check=True,
                capture_output=True,
            )
            ours, theirs = [], []
            for i in range(args.rounds):
                dest = work / f"ours-{i}"
                t0 = time.perf_counter()
                asyncio.run(pull_ours(host, dest, args.concurrency))
                ours.append(time.perf_counter() - t0)
                assert blob_bytes(dest) == total, "our pull wrote a different set of blobs"
                shutil.rmtree(dest)
                dest = work / f"skopeo-{i}"
                t0 = time.perf_counter()
                subprocess.run(
                    [
                        "skopeo",
                        "--insecure-policy",
                        "copy",
                        "--src-tls-verify=false",
                        f"docker://{host}/{REPO}:v1",
                        f"oci:{dest}:v1",
                    ],
                    check=True,
                    capture_output=True,
                )
                theirs.append(time.perf_counter() - t0)
                shutil.rmtree(dest)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    mb = total / 1e6

    def line(name: str, times: list[float]) -> tuple[float, float]:
        best, median = min(times), statistics.median(times)
        print(
            f"{name:>14}: best {mb / best:7.1f} MB/s ({best:.2f}s)   median {mb / median:7.1f} MB/s "
            f"({median:.2f}s)   rounds {', '.join(f'{t:.2f}' for t in times)}"
        )
        return best, median

    ob, om = line("harbourmaster", ours)
    sb, sm = line("skopeo copy", theirs)
    print(f"ratio harbourmaster/skopeo throughput: best {sb / ob:.2f}x   median {sm / om:.2f}x")


if __name__ == "__main__":
    main()
