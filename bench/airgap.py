#!/usr/bin/env python3
"""Air-gap transfer of a ~1 GB image set: ``airgap export`` + ``airgap import`` against ``skopeo copy`` to
``oci-archive`` and back, with the SHA-256 floor over the same bytes.

Run on demand (not part of the test suite)::

    .venv/bin/python bench/airgap.py [--images 4] [--layer-mb 128] [--rounds 1]

Needs ``docker-registry`` and ``skopeo``; runs as root like the integration tests.

1. Starts three ``docker-registry`` processes on 127.0.0.1 (the connected source, and one target per
   path), writes ``--images`` OCI images of two uncompressed random layers of ``--layer-mb`` MB each
   (4 x 2 x 128 MB = 1 GiB by default) and pushes them to the source with skopeo; each image is then
   signed by harbourmaster (cosign's tag format), so it has a referrer to carry.
2. A harbourmaster home (SQLite) whose model holds the three registries and a vault signing key.
3. Per round, each leg a process of its own (peak RSS from ``/proc/PID/status`` VmHWM, peak disk of the
   output directory, both sampled every 20 ms):

   - harbourmaster: ``airgap export -f SET -o BUNDLE`` (resolve, manifests, referrers, every blob streamed
     and verified to disk, manifest signed), then ``airgap import BUNDLE --to TARGET --key PUB`` (signature,
     every file hashed against the signed list and checksums, blobs pushed, manifests, referrers, tags);
   - skopeo: ``skopeo copy docker://SRC/img oci-archive:DIR/img.tar`` per image, then
     ``skopeo copy oci-archive:DIR/img.tar docker://TARGET/img`` (images only: skopeo carries no referrers);
   - the floor: hashlib SHA-256 over the bundle's files (the bytes each leg must at least hash once).

   Targets are emptied (registry restarted on an empty directory) between rounds.
4. Prints per leg the median time, throughput (image bytes / time), the ratio to skopeo's leg, peak RSS
   and peak disk (against the bundle size and the largest blob), then the same as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_registry(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    port = _free_port()
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(directory / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    (directory / "config.yml").write_text(json.dumps(config))
    log = open(directory / "registry.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(directory / "config.yml")], stdout=log, stderr=log
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=1).status_code == 200:
                return proc, f"127.0.0.1:{port}"
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"docker-registry did not start: {(directory / 'registry.log').read_text()}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def write_image(layout: Path, index: int, layer_bytes: int) -> int:
    """An OCI layout with one image of two random uncompressed layers; returns the blob bytes."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    total = 0

    def blob(data: bytes) -> dict[str, Any]:
        nonlocal total
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        total += len(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    layers = [blob(os.urandom(layer_bytes)) for _ in range(2)]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": f"2026-11-30T00:00:0{index % 10}Z",
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer} for layer in layers],
        }
    ).encode()
    top = {
        "mediaType": OCI_MANIFEST,
        **blob(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
    }
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [top]}))
    return total


def tree_bytes(path: Path) -> int:
    total = 0
    for directory, _, names in os.walk(path):
        for name in names:
            with contextlib.suppress(FileNotFoundError):
                total += (Path(directory) / name).stat().st_size
    return total


def measured(command: list[str], *, env: dict[str, str], watch: Path | None = None) -> dict[str, float]:
    """Run ``command``; its wall time, peak RSS (MB, VmHWM sampled every 20 ms) and the peak size of
    ``watch`` (MB)."""
    peak = 0
    done = threading.Event()

    hwm = 0
    pid: list[int] = []

    def sample() -> None:
        # VmHWM (peak RSS) belongs to the program's own address space; ru_maxrss would carry this
        # process's peak across fork + exec.
        nonlocal peak, hwm
        while not done.is_set():
            if watch is not None and watch.exists():
                peak = max(peak, tree_bytes(watch))
            if pid:
                with contextlib.suppress(OSError):
                    for line in Path(f"/proc/{pid[0]}/status").read_text().splitlines():
                        if line.startswith("VmHWM:"):
                            hwm = max(hwm, int(line.split()[1]))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    pid.append(proc.pid)
    _, status, _ = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if watch is not None and watch.exists():
        peak = max(peak, tree_bytes(watch))
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(
            f"{' '.join(command)} failed: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
        )
    return {"seconds": elapsed, "rss_mb": hwm / 1024, "disk_mb": peak / 1e6}


def sequence(steps: list[Callable[[], dict[str, float]]]) -> dict[str, float]:
    """Several processes as one leg: times add, peaks are the highest."""
    results = [step() for step in steps]
    return {
        "seconds": sum(r["seconds"] for r in results),
        "rss_mb": max(r["rss_mb"] for r in results),
        "disk_mb": max(r["disk_mb"] for r in results),
    }


def sha256_floor(bundle: Path) -> float:
    start = time.perf_counter()
    for directory, _, names in os.walk(bundle):
        for name in names:
            hasher = hashlib.sha256()
            with open(Path(directory) / name, "rb") as fh:
                while block := fh.read(1024 * 1024):
                    hasher.update(block)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--layer-mb", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    for binary in ("docker-registry", "skopeo"):
        if shutil.which(binary) is None:
            raise SystemExit(f"{binary} is not installed (apt-get install -y docker-registry skopeo)")
    work = Path(tempfile.mkdtemp(prefix="hm-bench-airgap-"))
    procs: dict[str, subprocess.Popen[bytes]] = {}
    hosts: dict[str, str] = {}
    try:
        for name in ("source", "target-hm", "target-skopeo"):
            procs[name], hosts[name] = start_registry(work / name)
        src = hosts["source"]
        image_bytes = 0
        names = [f"bench/img{i}" for i in range(args.images)]
        for i, name in enumerate(names):
            layout = work / "layouts" / str(i)
            image_bytes += write_image(layout, i, args.layer_mb * 1024 * 1024)
            subprocess.run(
                [
                    "skopeo",
                    "--insecure-policy",
                    "copy",
                    "--dest-tls-verify=false",
                    f"oci:{layout}:v1",
                    f"docker://{src}/{name}:v1",
                ],
                check=True,
                capture_output=True,
            )
        shutil.rmtree(work / "layouts")
        env = {**os.environ, "HARBOURMASTER_HOME": str(work / "home")}
        hm = [PYTHON, "-m", "harbourmaster"]
        registries = "".join(
            f"  - {{name: {n}, provider: custom, url: 'http://{h}', tls: {{insecure: true}}}}\n"
            for n, h in hosts.items()
        )
        (work / "governance.yaml").write_text(
            "apiVersion: harbourmaster.io/v1\nkind: Governance\nregistries:\n"
            + registries
            + "environments:\n  - {name: dev, kind: docker-standalone, tier: development}\n"
        )
        for step in (
            ["init"],
            ["apply", "-f", str(work / "governance.yaml")],
            ["signing-key", "generate", "bench"],
        ):
            subprocess.run([*hm, *step], env=env, check=True, capture_output=True)
        pub = work / "bench.pub"
        pub.write_bytes(
            subprocess.run(
                [*hm, "signing-key", "public", "bench"], env=env, check=True, capture_output=True
            ).stdout
        )
        for name in names:
            subprocess.run(
                [*hm, "sign", f"{src}/{name}:v1", "--signing-key", "bench"],
                env=env,
                check=True,
                capture_output=True,
            )
        image_set = work / "set.yaml"
        image_set.write_text(
            "apiVersion: harbourmaster.io/v1\nkind: ImageSet\nsigner: bench\nimages:\n"
            + "".join(f"  - {src}/{name}:v1\n" for name in names)
        )
        rounds: dict[str, list[dict[str, float]]] = {
            k: [] for k in ("hm export", "hm import", "skopeo export", "skopeo import", "sha256 floor")
        }
        bundle_bytes = largest = 0
        for number in range(args.rounds):
            for target in ("target-hm", "target-skopeo"):
                stop(procs[target])
                procs[target], hosts[target] = start_registry(work / target)
            registries = "".join(
                f"  - {{name: {n}, provider: custom, url: 'http://{h}', tls: {{insecure: true}}}}\n"
                for n, h in hosts.items()
            )
            (work / "governance.yaml").write_text(
                "apiVersion: harbourmaster.io/v1\nkind: Governance\nregistries:\n"
                + registries
                + "environments:\n  - {name: dev, kind: docker-standalone, tier: development}\n"
            )
            subprocess.run(
                [*hm, "apply", "-f", str(work / "governance.yaml")], env=env, check=True, capture_output=True
            )
            bundle, archives = work / f"bundle-{number}", work / f"archives-{number}"
            rounds["hm export"].append(
                measured(
                    [*hm, "airgap", "export", "-f", str(image_set), "-o", str(bundle), "--json"],
                    env=env,
                    watch=bundle,
                )
            )
            rounds["hm import"].append(
                measured(
                    [*hm, "airgap", "import", str(bundle), "--to", "target-hm", "--key", str(pub), "--json"],
                    env=env,
                )
            )
            bundle_bytes = tree_bytes(bundle)
            largest = max(p.stat().st_size for p in (bundle / "oci" / "blobs" / "sha256").iterdir())
            archives.mkdir()
            skopeo_env = {**os.environ, "TMPDIR": str(archives)}
            dst = hosts["target-skopeo"]
            copy = [
                "skopeo",
                "--insecure-policy",
                "copy",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
            ]
            archive = {name: f"oci-archive:{archives}/{name.replace('/', '_')}.tar" for name in names}
            rounds["skopeo export"].append(
                sequence(
                    [
                        functools.partial(
                            measured,
                            [*copy, f"docker://{src}/{n}:v1", archive[n]],
                            env=skopeo_env,
                            watch=archives,
                        )
                        for n in names
                    ]
                )
            )
            rounds["skopeo import"].append(
                sequence(
                    [
                        functools.partial(
                            measured, [*copy, archive[n], f"docker://{dst}/{n}:v1"], env=skopeo_env
                        )
                        for n in names
                    ]
                )
            )
            rounds["sha256 floor"].append({"seconds": sha256_floor(bundle), "rss_mb": 0.0, "disk_mb": 0.0})
            shutil.rmtree(bundle)
            shutil.rmtree(archives)
        summary: dict[str, dict[str, float]] = {}
        for leg, results in rounds.items():
            seconds = statistics.median(r["seconds"] for r in results)
            summary[leg] = {
                "seconds": seconds,
                "mb_per_s": image_bytes / seconds / 1e6,
                "rss_mb": max(r["rss_mb"] for r in results),
                "disk_mb": max(r["disk_mb"] for r in results),
            }
        print(f"machine: {os.cpu_count()} CPUs shared by three registries, skopeo and harbourmaster")
        print(
            f"set: {args.images} images, {image_bytes / 1e6:.0f} MB of blobs (two {args.layer_mb} MiB layers "
            f"each, plus a cosign signature each); bundle {bundle_bytes / 1e6:.0f} MB, largest blob "
            f"{largest / 1e6:.0f} MB; {args.rounds} round(s)"
        )
        for leg, figures in summary.items():
            baseline = {"hm export": "skopeo export", "hm import": "skopeo import"}.get(leg)
            ratio = (
                f"  {figures['mb_per_s'] / summary[baseline]['mb_per_s']:.2f}x skopeo's throughput"
                if baseline
                else ""
            )
            print(
                f"  {leg:<14} {figures['seconds']:7.2f}s  {figures['mb_per_s']:7.0f} MB/s  "
                f"peak RSS {figures['rss_mb']:6.0f} MB  peak disk {figures['disk_mb']:6.0f} MB{ratio}"
            )
        print(
            json.dumps(
                {
                    "image_bytes": image_bytes,
                    "bundle_bytes": bundle_bytes,
                    "largest_blob": largest,
                    "legs": summary,
                }
            )
        )
    finally:
        for proc in procs.values():
            stop(proc)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
