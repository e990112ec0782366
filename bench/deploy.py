#!/usr/bin/env python3
"""Deploying a 3-service compose file: harbourmaster's checked deploy versus ``docker pull`` + ``docker run``.

Run on demand (not part of the test suite)::

    .venv/bin/python bench/deploy.py [--rounds 5] [--layer-mb 8]

Needs ``dockerd`` and ``docker`` (Debian docker.io), ``docker-registry``, ``skopeo``, ``umoci``,
``htpasswd`` (apache2-utils) and a static ``busybox`` (busybox-static); run as root, as the integration
tests that start a private daemon are.

1. Builds, once (cached under ``.bench/``), an OCI layout with 3 tags ``app0..app2`` made with umoci: a
   shared busybox-static layer plus one distinct layer of ``--layer-mb`` MB of random data each, so the
   three images differ and their containers can run ``sleep 3600``.
2. Starts ``docker-registry`` on 127.0.0.1 with htpasswd auth and pushes the 3 images with skopeo, then a
   private ``dockerd`` on its own socket (``--iptables=false --bridge=none --storage-driver=vfs``, as the
   integration tests do) and a harbourmaster home (SQLite) whose model grants that registry to a
   ``docker-standalone`` environment of tier ``development`` (``unscanned: block``), with a kept scan of
   each digest so the verdict allows.
3. Per round, in alternating order, with every container, network and image removed between paths (so
   each path pulls the same bytes from the registry):

   - harbourmaster: ``deploy --wait`` through the deployment service (``deploy_now``): the verdict on the
     compose content for user ``ops`` (audit recorded), the pins, the deployment row, the verdict again
     on the pinned images when it runs, the registry credential opened from the vault (audited), the
     engine reached through the environment's endpoint, ``DockerEngineTarget.apply`` (3 pulls by digest
     with the credential in memory, a project network, 3 containers created and started), the outcome
     recorded and audited; the engine's part (pulls; network + create/start) timed from inside;
   - the usual way: a fresh ``DOCKER_CONFIG`` directory whose ``config.json`` holds the registry auth,
     ``docker pull`` of the 3 images, ``docker network create`` and 3 ``docker run -d`` (the CLI against
     the same daemon through ``DOCKER_HOST``).

   The compose file names the images by digest, so no tag is resolved in either path.
4. Prints, per path, the median and minimum total time, the ratio harbourmaster/usual, and the split of
   harbourmaster's own work (everything but the engine's calls: "checks") from engine time (pull, then
   network + create/start: "run"),
   with the facts of the machine (CPUs shared by the registry, the daemon and the client).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from harbourmaster.cli._common import local_principal  # noqa: E402
from harbourmaster.deploy.docker_engine import DockerEngineTarget  # noqa: E402
from harbourmaster.services.apply import apply_document  # noqa: E402
from harbourmaster.services.core import Harbourmaster  # noqa: E402
from harbourmaster.services.deployments import deploy_now  # noqa: E402

CACHE = ROOT / ".bench"
USER, PASSWORD = "bench", "bench-Pw-0c7d1e"
SERVICES = ("db", "api", "web")
PROJECT = "bench"
GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - {{name: bench, provider: custom, url: "http://{host}", tls: {{insecure: true}},
     credential: {{username: bench, secret: env:HM_BENCH_REGISTRY_SECRET}}}}
users:
  - {{name: ops, role: administrator}}
environments:
  - {{name: dev, kind: docker-standalone, tier: development, endpoint: "unix://{sock}"}}
access:
  - {{user: ops, environment: dev}}
grants:
  - {{registry: bench, environment: dev, users: [ops]}}
tiers:
  development: {{block_severity: high, unscanned: block}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed: {result.stderr[-2000:]}")
    return result.stdout


def _wait(ready: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start")


def build_images(layer_mb: int) -> Path:
    """An OCI layout with tags app0..app2: busybox-static plus a distinct random layer each."""
    layout = CACHE / f"deploy-images-{layer_mb}mb"
    if (layout / "index.json").exists():
        return layout
    busybox = shutil.which("busybox")
    if busybox is None:
        raise SystemExit("busybox is not installed (apt-get install busybox-static)")
    tmp = layout.with_name(layout.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    oci = tmp / "layout"
    _run("umoci", "init", "--layout", str(oci))
    _run("umoci", "new", "--image", f"{oci}:base")
    bundle = tmp / "bundle"
    _run("umoci", "unpack", "--rootless", "--image", f"{oci}:base", str(bundle))
    bin_dir = bundle / "rootfs" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox, bin_dir / "busybox")
    for applet in ("sh", "sleep", "cat", "echo"):
        (bin_dir / applet).symlink_to("busybox")
    _run("umoci", "repack", "--image", f"{oci}:base", str(bundle))
    for i in range(len(SERVICES)):
        shutil.rmtree(bundle)
        _run("umoci", "unpack", "--rootless", "--image", f"{oci}:base", str(bundle))
        data = bundle / "rootfs" / "data"
        data.mkdir()
        (data / f"app{i}.bin").write_bytes(os.urandom(layer_mb * 1024 * 1024))
        _run("umoci", "repack", "--image", f"{oci}:app{i}", str(bundle))
    _run("umoci", "gc", "--layout", str(oci))
    oci.rename(layout)
    shutil.rmtree(tmp)
    return layout


def start_registry(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``docker-registry`` on 127.0.0.1 with htpasswd auth (USER/PASSWORD)."""
    port = _free_port()
    _run("htpasswd", "-Bbc", str(work / "htpasswd"), USER, PASSWORD)
    config = {
        "version": 0.1,
        "log": {"level": "error", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(work / "registry")}},
        "http": {"addr": f"127.0.0.1:{port}"},
        "auth": {"htpasswd": {"realm": "bench", "path": str(work / "htpasswd")}},
    }
    (work / "registry.yml").write_text(json.dumps(config))  # JSON is YAML
    proc = subprocess.Popen(["docker-registry", "serve", str(work / "registry.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = f"127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(f"http://{host}/v2/", timeout=1).status_code == 401, "docker-registry", 20)
    except SystemExit:
        proc.kill()
        raise
    return proc, host


def start_dockerd(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A private ``dockerd`` under ``root`` (short: unix socket paths are bounded); its socket."""
    sock = root / "docker.sock"
    log = open(root / "dockerd.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        ["dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "pid"), "-H", f"unix://{sock}", "--iptables=false",
         "--ip6tables=false", "--bridge=none", "--storage-driver=vfs"],
        stdout=log, stderr=log,
    )
    log.close()

    def ready() -> bool:
        if proc.poll() is not None:
            raise SystemExit(f"dockerd exited: {(root / 'dockerd.log').read_text()[-2000:]}")
        if not sock.exists():
            return False
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sock))) as client:
            return client.get("http://docker/_ping", timeout=2).status_code == 200

    try:
        _wait(ready, "dockerd")
    except SystemExit:
        stop(proc)
        raise
    return proc, str(sock)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop one process we started, by its id (dockerd stops its own containerd)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def prepare_home(home: Path, host: str, sock: str, references: dict[str, str]) -> Harbourmaster:
    """A harbourmaster home whose model grants the registry to ``dev``, with a kept scan per digest."""
    from harbourmaster.store.values import StoredScan

    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOURMASTER_")}
    env["HARBOURMASTER_HOME"] = str(home)
    env["HARBOURMASTER_LOG_LEVEL"] = "warning"
    os.environ["HM_BENCH_REGISTRY_SECRET"] = PASSWORD  # the CLI resolves env: references itself
    hm = Harbourmaster.from_environ(env)
    hm.init()
    apply_document(hm, local_principal(hm), GOVERNANCE.format(host=host, sock=sock), source="bench.yaml",
                   host=hm.host_files())
    now = hm.clock.now()
    with hm.store.transaction() as tx:
        for reference in references.values():
            name, _, digest = reference.partition("@")
            tx.scans.record(StoredScan(image_digest=digest, image_name=name, scanned_at=now, components=0,
                                       findings=(), origin="registry"))
    return hm


def compose_text(references: dict[str, str]) -> str:
    return yaml.safe_dump({
        "services": {name: {"image": references[name], "command": ["sleep", "3600"],
                            "environment": {"ROLE": name}}
                     for name in SERVICES},
    }, sort_keys=False)


def deploy_harbourmaster(hm: Harbourmaster, text: str) -> dict[str, float]:
    """``deploy --wait`` through the deployment service; seconds, the engine's calls timed from inside."""
    engine = {"apply": 0.0, "pull": 0.0}
    apply, pull = DockerEngineTarget.apply, DockerEngineTarget._pull

    def timed(part: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                engine[part] += time.perf_counter() - start

        return run

    DockerEngineTarget.apply = timed("apply", apply)  # type: ignore[method-assign]
    DockerEngineTarget._pull = timed("pull", pull)  # type: ignore[method-assign]
    try:
        t0 = time.perf_counter()
        result = deploy_now(hm, local_principal(hm), environment="dev", user="ops", text=text,
                            source="compose.yaml", name=PROJECT)
        t1 = time.perf_counter()
    finally:
        DockerEngineTarget.apply, DockerEngineTarget._pull = apply, pull  # type: ignore[method-assign]
    assert result.state.value == "deployed" and len(result.result["created"]) == len(SERVICES), result
    return {"checks": t1 - t0 - engine["apply"], "engine": engine["apply"], "pull": engine["pull"],
            "run": engine["apply"] - engine["pull"], "total": t1 - t0}


def deploy_usual(sock: str, host: str, references: dict[str, str], scratch: Path) -> dict[str, float]:
    """``docker pull`` + ``docker run -d`` with the credential in a config file; seconds."""
    t0 = time.perf_counter()
    config_dir = Path(tempfile.mkdtemp(prefix="docker-config-", dir=scratch))
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (config_dir / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    env = {**os.environ, "DOCKER_CONFIG": str(config_dir), "DOCKER_HOST": f"unix://{sock}"}
    for name in SERVICES:
        _run("docker", "pull", "-q", references[name], env=env)
    t1 = time.perf_counter()
    network = f"{PROJECT}_default"
    _run("docker", "network", "create", network, env=env)
    for name in SERVICES:
        _run("docker", "run", "-d", "--name", f"{PROJECT}-{name}-1", "--network", network,
             "--network-alias", name, "-e", f"ROLE={name}", references[name], "sleep", "3600", env=env)
    t2 = time.perf_counter()
    shutil.rmtree(config_dir)
    return {"pull": t1 - t0, "run": t2 - t1, "total": t2 - t0}


def clean_engine(sock: str) -> None:
    """Remove every container, non-default network and image (not timed)."""
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}"}
    containers = _run("docker", "ps", "-aq", env=env).split()
    if containers:
        _run("docker", "rm", "-f", *containers, env=env)
    _run("docker", "network", "prune", "-f", env=env)
    _run("docker", "volume", "prune", "-f", env=env)
    images = sorted(set(_run("docker", "images", "-aq", env=env).split()))
    if images:
        _run("docker", "rmi", "-f", *images, env=env)
    assert not _run("docker", "images", "-aq", env=env).split()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layer-mb", type=int, default=8, help="MB of random data in each image's own layer")
    args = parser.parse_args()
    for tool in ("dockerd", "docker", "docker-registry", "skopeo", "umoci", "htpasswd"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed")
    CACHE.mkdir(exist_ok=True)
    layout = build_images(args.layer_mb)
    work = Path(tempfile.mkdtemp(prefix="deploy-", dir=CACHE))
    docker_root = Path(tempfile.mkdtemp(prefix="hm-bench-docker-", dir="/tmp"))
    registry = daemon = None
    hm = None
    try:
        registry, host = start_registry(work)
        references = {}
        for i, name in enumerate(SERVICES):
            repo = f"{host}/bench/app{i}"
            creds = f"--dest-creds={USER}:{PASSWORD}"
            _run("skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false", creds,
                 f"oci:{layout}:app{i}", f"docker://{repo}:v1")
            digest = _run("skopeo", "inspect", "--tls-verify=false", f"--creds={USER}:{PASSWORD}",
                          "--format", "{{.Digest}}", f"docker://{repo}:v1").strip()
            references[name] = f"{repo}@{digest}"
        blob_bytes = sum(p.stat().st_size for p in (layout / "blobs" / "sha256").iterdir())
        daemon, sock = start_dockerd(docker_root)
        hm = prepare_home(work / "home", host, sock, references)
        text = compose_text(references)
        ours: list[dict[str, float]] = []
        usual: list[dict[str, float]] = []
        for r in range(args.rounds):
            order = ["hm", "usual"] if r % 2 == 0 else ["usual", "hm"]
            for path in order:
                clean_engine(sock)
                if path == "hm":
                    ours.append(deploy_harbourmaster(hm, text))
                else:
                    usual.append(deploy_usual(sock, host, references, work))
            clean_engine(sock)

        engine_version = _run("docker", "version", "--format",
                              "{{.Server.Version}} (API {{.Server.APIVersion}})",
                              env={**os.environ, "DOCKER_HOST": f"unix://{sock}"}).strip()
        print(f"machine: {os.cpu_count()} CPUs shared by the registry, dockerd/containerd and the client; "
              f"{platform.platform()}; Docker Engine {engine_version}, storage driver vfs")
        print(f"images: 3 ({blob_bytes / 1e6:.1f} MB of blobs in the layout: a shared busybox layer + "
              f"{args.layer_mb} MB random layer each), htpasswd registry on 127.0.0.1, {args.rounds} rounds, "
              "alternating order, engine emptied before each path")

        def summary(name: str, rows: list[dict[str, float]], parts: tuple[str, ...]) -> float:
            totals = [row["total"] for row in rows]
            split = "  ".join(f"{p} {statistics.median(row[p] for row in rows):.3f}" for p in parts)
            print(f"  {name:<14} total median {statistics.median(totals):.3f}s  min {min(totals):.3f}s   "
                  f"(median s: {split})   rounds {', '.join(f'{t:.2f}' for t in totals)}")
            return statistics.median(totals)

        med_hm = summary("harbourmaster", ours, ("checks", "engine", "pull", "run"))
        med_usual = summary("usual (CLI)", usual, ("pull", "run"))
        print(f"  ratio harbourmaster/usual: median {med_hm / med_usual:.2f}x  "
              f"min {min(r['total'] for r in ours) / min(r['total'] for r in usual):.2f}x")
        checks = [row["checks"] for row in ours]
        share = statistics.median(c / r["total"] for c, r in zip(checks, ours, strict=True))
        print(f"  harbourmaster's own work (verdict twice, pins, deployment row, credential from the vault, "
              f"audit): median {statistics.median(checks) * 1e3:.1f} ms (first round "
              f"{checks[0] * 1e3:.1f} ms) = {share:.1%} of its total; engine (pull + create/start) "
              f"median {statistics.median(r['engine'] for r in ours):.3f}s")
        print(json.dumps({"harbourmaster": ours, "usual": usual, "blob_bytes": blob_bytes}))
    finally:
        if hm is not None:
            close = getattr(hm, "close", None)
            if callable(close):
                close()
        if daemon is not None:
            stop(daemon)
        if registry is not None:
            stop(registry)
        subprocess.run(["rm", "-rf", str(docker_root)], check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
