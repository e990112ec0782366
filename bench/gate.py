#!/usr/bin/env python3
"""The registry pull gate's cost: a 200 MB image pulled through the gate versus directly, with skopeo.

Run on demand (not part of the test suite)::

    .venv/bin/python bench/gate.py [--size-mb 200] [--layers 5] [--rounds 3] [--requests 500] [--floor]

1. Builds (once, cached under ``.bench/``, as ``bench/pull.py`` does) an OCI layout of ``--size-mb`` MB
   of incompressible gzip layers, starts ``docker-registry`` on 127.0.0.1 and pushes it with skopeo.
2. Makes a data directory with a governance model whose registry is that one (development tier,
   ``unscanned: block``), records a kept scan of the image (so the verdict allows and is cached), and
   starts ``harbourmaster gate serve`` as its own process.
3. Per round, ``skopeo copy docker://HOST/bench/big:v1 oci:DIR`` directly and through the gate (in
   alternating order), each into a fresh directory; throughput in MB/s of blob bytes, and the CPU seconds
   skopeo, the registry and the gate spent per copy (on a small machine the three share the cores, so
   the gate's CPU time is what its throughput costs).
   With ``--floor``, also through a bare TCP relay (uvloop, no HTTP, SHA-256 over every byte it passes
   on): the least any Python proxy that verifies digests could cost here, to judge the gate against.
4. Manifest latency: ``--requests`` sequential HEAD and GET of the manifest by tag on one keep-alive
   connection, directly and through the gate; the added latency is the difference of medians (and p99).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from pull import REPO, blob_bytes, build_image, start_registry  # noqa: E402

ACCEPT = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
])
GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - {{name: bench, provider: custom, url: "http://{host}", tls: {{insecure: true}}}}
users:
  - {{name: ops, role: administrator}}
environments:
  - {{name: dev, kind: docker-standalone, tier: development}}
access:
  - {{user: ops, environment: dev}}
grants:
  - {{registry: bench, environment: dev, users: [ops]}}
tiers:
  development: {{block_severity: high, unscanned: block}}
"""


def _hm(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "harbourmaster", *args], env=env, check=True,
                   capture_output=True)


def _keep_scan(env: dict[str, str], image: str, digest: str) -> None:
    os.environ.update(env)
    from harbourmaster.services.core import Harbourmaster
    from harbourmaster.store.values import StoredScan

    hm = Harbourmaster.from_environ()
    with hm.store.transaction() as tx:
        tx.scans.record(StoredScan(image_digest=digest, image_name=image, scanned_at=dt.datetime.now(dt.UTC),
                                   components=0, findings=(), origin="registry"))


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _copy(host: str, dest: Path, pids: dict[str, int]) -> tuple[float, dict[str, float]]:
    """Seconds of one ``skopeo copy`` from ``host``, and the CPU seconds skopeo and ``pids`` spent."""
    shutil.rmtree(dest, ignore_errors=True)
    before = {name: _cpu(pid) for name, pid in pids.items()}
    skopeo_before = _children_cpu()
    start = time.perf_counter()
    subprocess.run(["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false",
                    f"docker://{host}/{REPO}:v1", f"oci:{dest}:v1"], check=True, capture_output=True)
    seconds = time.perf_counter() - start
    cpu = {"skopeo": _children_cpu() - skopeo_before}
    cpu.update({name: _cpu(pid) - before[name] for name, pid in pids.items()})
    return seconds, cpu


class _Relay(asyncio.Protocol):
    """One direction of the floor relay: bytes received are written to the peer (hashed on the way
    from the registry); back-pressure pauses the peer's reading."""

    def __init__(self, *, hashed: bool) -> None:
        self.peer: _Relay | None = None
        self.early: list[bytes] = []
        self.hash = hashlib.sha256() if hashed else None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not its subclasses

    def data_received(self, data: bytes) -> None:
        if self.hash is not None:
            self.hash.update(data)
        if self.peer is None:
            self.early.append(data)
        else:
            self.peer.transport.write(data)

    def pause_writing(self) -> None:
        assert self.peer is not None
        self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        assert self.peer is not None
        self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            self.peer.transport.close()


def _serve_relay(port: int, upstream: str) -> None:
    """The floor: a bare TCP relay on ``port`` to ``upstream`` (not an HTTP proxy; a measuring aid)."""
    import uvloop

    host, upstream_port = upstream.rsplit(":", 1)

    async def serve() -> None:
        loop = asyncio.get_running_loop()

        class Client(_Relay):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                self.transport.pause_reading()
                self.linking = loop.create_task(self.link())

            async def link(self) -> None:
                _, up = await loop.create_connection(lambda: _Relay(hashed=True), host, int(upstream_port))
                up.peer, self.peer = self, up
                for data in self.early:
                    up.transport.write(data)
                self.transport.resume_reading()

        server = await loop.create_server(lambda: Client(hashed=False), "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(serve())


def _latencies(host: str, method: str, n: int) -> list[float]:
    out = []
    with httpx.Client(base_url=f"http://{host}", headers={"Accept": ACCEPT}, timeout=10) as client:
        for _ in range(20):  # warm: connection, verdict cache
            client.request(method, f"/v2/{REPO}/manifests/v1").raise_for_status()
        for _ in range(n):
            start = time.perf_counter()
            client.request(method, f"/v2/{REPO}/manifests/v1").raise_for_status()
            out.append(time.perf_counter() - start)
    return out


def _p(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--layers", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--floor", action="store_true",
                        help="also copy through a bare TCP relay that hashes what it passes (the floor)")
    parser.add_argument("--serve-relay", nargs=2, metavar=("PORT", "UPSTREAM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_relay:
        _serve_relay(int(args.serve_relay[0]), args.serve_relay[1])
        return

    layout = build_image(args.size_mb, args.layers)
    size = blob_bytes(layout)
    work = Path(tempfile.mkdtemp(prefix="hm-bench-gate-"))
    registry, host = start_registry(work)
    gate_proc = relay_proc = None
    try:
        subprocess.run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", f"oci:{layout}:v1",
                        f"docker://{host}/{REPO}:v1"], check=True, capture_output=True)
        digest = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}",
                                 f"docker://{host}/{REPO}:v1"], check=True, capture_output=True,
                                text=True).stdout.strip()
        env = {**os.environ, "HARBOURMASTER_HOME": str(work / "home"), "HARBOURMASTER_LOG_LEVEL": "warning"}
        env.pop("HARBOURMASTER_DATABASE_URL", None)
        (work / "governance.yaml").write_text(GOVERNANCE.format(host=host))
        _hm(env, "init")
        _hm(env, "apply", "-f", str(work / "governance.yaml"))
        _keep_scan(env, f"{host}/{REPO}", digest)
        port = _free_port()
        gate = f"127.0.0.1:{port}"
        gate_proc = subprocess.Popen([sys.executable, "-m", "harbourmaster", "gate", "serve", "--registry",
                                      "bench", "--env", "dev", "--port", str(port), "--log-level", "warning"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://{gate}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the gate did not start")
            time.sleep(0.1)

        targets = [("direct", host), ("gate", gate)]
        if args.floor:
            relay_port = _free_port()
            relay_proc = subprocess.Popen([sys.executable, __file__, "--serve-relay", str(relay_port), host])
            targets.append(("relay", f"127.0.0.1:{relay_port}"))
            time.sleep(1)
        pids = {"registry": registry.pid, "gate": gate_proc.pid}
        if relay_proc is not None:
            pids["relay"] = relay_proc.pid
        times: dict[str, list[float]] = {name: [] for name, _ in targets}
        cpus: dict[str, list[dict[str, float]]] = {name: [] for name, _ in targets}
        for r in range(args.rounds):
            for name, target in targets[r % len(targets):] + targets[:r % len(targets)]:
                seconds, cpu = _copy(target, work / f"out-{name}", pids)
                times[name].append(seconds)
                cpus[name].append(cpu)
        mb = size / 1e6
        direct, through = times["direct"], times["gate"]
        best_d, best_g = min(direct), min(through)
        med_d, med_g = statistics.median(direct), statistics.median(through)
        print(f"image: {mb:.1f} MB of blobs in {args.layers} layers, {args.rounds} rounds, "
              "skopeo copy to oci:")
        labels = {"direct": "direct:      ", "gate": "through gate:", "relay": "floor relay: "}
        for name, label in labels.items():
            if name not in times:
                continue
            spent = "  ".join(f"{proc} {statistics.median(c[proc] for c in cpus[name]):.2f}"
                              for proc in ("skopeo", "registry", "gate", "relay")
                              if proc == "skopeo" or proc == "registry" or proc == name)
            print(f"  {label} best {mb / min(times[name]):7.1f} MB/s  median "
                  f"{mb / statistics.median(times[name]):7.1f} MB/s  (CPU s per copy, median: {spent})")
        print(f"  ratio (gate/direct): best {best_d / best_g:.1%}  median {med_d / med_g:.1%}  "
              "(target >= 90%)")
        if "relay" in times:
            relay = times["relay"]
            print(f"  ratio (floor relay/direct): best {best_d / min(relay):.1%}  "
                  f"median {med_d / statistics.median(relay):.1%}")
        for method in ("HEAD", "GET"):
            d = _latencies(host, method, args.requests)
            g = _latencies(gate, method, args.requests)
            print(f"manifest {method} x{args.requests}: direct p50 {statistics.median(d) * 1e3:.3f} ms "
                  f"p99 {_p(d, 0.99) * 1e3:.3f} ms; gate p50 {statistics.median(g) * 1e3:.3f} ms "
                  f"p99 {_p(g, 0.99) * 1e3:.3f} ms; added p50 "
                  f"{(statistics.median(g) - statistics.median(d)) * 1e3:.3f} ms (target <= 2 ms)")
        print(json.dumps({"direct_s": direct, "gate_s": through, "blob_bytes": size,
                          **({"relay_s": times["relay"]} if "relay" in times else {}),
                          "cpu_s": cpus}))
    finally:
        if relay_proc is not None:
            relay_proc.terminate()
            relay_proc.wait(timeout=10)
        if gate_proc is not None:
            gate_proc.terminate()
            gate_proc.wait(timeout=10)
        registry.terminate()
        registry.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
