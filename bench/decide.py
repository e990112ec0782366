"""Decision throughput and latency: 1,000 registries, 200 environments, 20,000 grants.

Measures, for a pod with 5 images:
  * in process: GovernanceSnapshot + decide(), with the parse cache warm and cold;
  * the peer baseline in the same run: Gatekeeper's allowed-repos policy (prefix
    match against 1,000 repositories, written with the fastest builtin,
    ``strings.any_prefix_match``) evaluated by regorus (PyPI ``opa-eval``);
  * through the HTTP API: POST /api/v1/decisions against ``harbourmaster serve``
    on 127.0.0.1 (SQLite store, one audit record per request).

Run: .venv/bin/python bench/decide.py [--quick] [--http-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx

from harbourmaster.domain.decision import Tenant, decide
from harbourmaster.domain.matching import parse_registry_location
from harbourmaster.domain.model import (
    AccessEntry,
    Environment,
    EnvironmentKind,
    Provider,
    Registry,
    RegistryGrant,
    Role,
    Team,
    Tier,
    User,
)
from harbourmaster.domain.state import GovernanceState
from harbourmaster.services.core import snapshot_of

HOSTS, SCOPES = 100, 10  # 1,000 registries
K8S_ENVS, DOCKER_ENVS, NAMESPACES = 100, 100, 20
TEAMS, USERS_PER_TEAM = 50, 10


def build_state() -> GovernanceState:
    registries = [
        Registry(
            name=f"reg-{h}-{s}",
            provider=Provider.HARBOR,
            url=f"https://reg{h}.corp",
            location=parse_registry_location(f"https://reg{h}.corp", f"team{s}"),
        )
        for h in range(HOSTS)
        for s in range(SCOPES)
    ]
    users = [User(f"u{t}-{i}") for t in range(TEAMS) for i in range(USERS_PER_TEAM)]
    teams = [Team(f"team{t}", tuple(f"u{t}-{i}" for i in range(USERS_PER_TEAM))) for t in range(TEAMS)]
    envs = [
        Environment(
            f"k8s-{e}",
            EnvironmentKind.KUBERNETES,
            Tier.PRODUCTION,
            namespaces=tuple(f"ns{n}" for n in range(NAMESPACES)),
        )
        for e in range(K8S_ENVS)
    ]
    envs += [
        Environment(f"docker-{e}", EnvironmentKind.DOCKER_STANDALONE, Tier.STAGING)
        for e in range(DOCKER_ENVS)
    ]
    access = [
        AccessEntry(f"docker-{e}", team=f"team{(e + k) % TEAMS}")
        for e in range(DOCKER_ENVS)
        for k in range(10)
    ]
    grants = [
        RegistryGrant(f"reg-{(e + n + k) % HOSTS}-{k % SCOPES}", f"k8s-{e}", namespace=f"ns{n}")
        for e in range(K8S_ENVS)
        for n in range(NAMESPACES)
        for k in range(5)
    ]
    grants += [
        RegistryGrant(f"reg-{(e + k) % HOSTS}-{k}", f"docker-{e}", team=f"team{(e + t) % TEAMS}")
        for e in range(DOCKER_ENVS)
        for t in range(10)
        for k in range(10)
    ]
    assert len(registries) == 1000 and len(envs) == 200 and len(grants) == 20000
    return GovernanceState(
        registries=tuple(registries),
        environments=tuple(envs),
        users=tuple(users),
        teams=tuple(teams),
        access=tuple(access),
        grants=tuple(grants),
    )


def pod_images(e: int, n: int, salt: str = "") -> list[str]:
    allowed = [f"reg{(e + n + k) % HOSTS}.corp/team{k % SCOPES}/svc{k}:1.{k}{salt}" for k in range(4)]
    return [*allowed, f"reg{(e + n + 7) % HOSTS}.corp/team9-evil/svc:1{salt}"]


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def bench_in_process(state: GovernanceState, rounds: int) -> dict[str, float]:
    snap = snapshot_of(replace(state, hide_dockerhub_anonymous=True), revision=1, today=dt.date.today())
    pods = [
        (f"k8s-{i % K8S_ENVS}", f"ns{i % NAMESPACES}", pod_images(i % K8S_ENVS, i % NAMESPACES))
        for i in range(200)
    ]
    for env, ns, images in pods:  # warm the parse cache; check the expected verdicts
        out = decide(snap, environment=env, tenant=Tenant(namespace=ns), images=images)
        assert [d.allowed for d in out] == [True, True, True, True, False], out
    warm: list[float] = []
    for i in range(rounds):
        env, ns, images = pods[i % len(pods)]
        t0 = time.perf_counter_ns()
        decide(snap, environment=env, tenant=Tenant(namespace=ns), images=images)
        warm.append((time.perf_counter_ns() - t0) / 1000)
    cold: list[float] = []
    for i in range(rounds):
        env, ns, _ = pods[i % len(pods)]
        images = pod_images(i % K8S_ENVS, i % NAMESPACES, salt=f".{i}")  # unique tags: parse every time
        t0 = time.perf_counter_ns()
        decide(snap, environment=env, tenant=Tenant(namespace=ns), images=images)
        cold.append((time.perf_counter_ns() - t0) / 1000)
    return {
        "warm_p50": pct(warm, 0.5),
        "warm_p99": pct(warm, 0.99),
        "cold_p50": pct(cold, 0.5),
        "cold_p99": pct(cold, 0.99),
        "warm_mean": statistics.fmean(warm),
        "cold_mean": statistics.fmean(cold),
    }


GATEKEEPER_ALLOWED_REPOS = """
package k8sallowedrepos

violation[msg] {
  container := input.review.object.spec.containers[_]
  not strings.any_prefix_match(container.image, data.repos)
  msg := sprintf("container <%v> has an invalid image repo <%v>", [container.name, container.image])
}
"""


def bench_regorus(rounds: int, workdir: Path) -> dict[str, float] | None:
    try:
        import opa_eval
    except ImportError:
        print("peer baseline skipped: pip install opa-eval (regorus) to measure it", file=sys.stderr)
        return None
    policy = workdir / "allowedrepos.rego"
    policy.write_text(GATEKEEPER_ALLOWED_REPOS)
    repos = [f"reg{h}.corp/team{s}/" for h in range(HOSTS) for s in range(SCOPES)]
    engine = opa_eval.OpaEval(
        str(policy), data_json=json.dumps({"repos": repos}), query="data.k8sallowedrepos.violation"
    )
    inputs = []
    for i in range(200):
        images = pod_images(i % K8S_ENVS, i % NAMESPACES)
        containers = [{"name": f"c{k}", "image": img} for k, img in enumerate(images)]
        inputs.append(json.dumps({"review": {"object": {"spec": {"containers": containers}}}}))
    result = engine.evaluate_parsed(inputs[0])
    assert len(result) == 1, result  # only the look-alike image violates
    samples = []
    for i in range(rounds):
        t0 = time.perf_counter_ns()
        engine.evaluate_parsed(inputs[i % len(inputs)])
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return {"p50": pct(samples, 0.5), "p99": pct(samples, 0.99)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_http(state: GovernanceState, requests: int, workdir: Path) -> dict[str, float]:
    from harbourmaster.services.core import Harbourmaster
    from harbourmaster.services.tokens import create_token

    home = workdir / "home"
    env = dict(os.environ, HARBOURMASTER_HOME=str(home))
    env.pop("HARBOURMASTER_DATABASE_URL", None)
    hm = Harbourmaster.from_environ(env)
    hm.init()
    with hm.store.transaction() as tx:
        current = tx.governance.load()
        admin = User("bench-admin", role=Role.ADMINISTRATOR)
        tx.governance.save(
            replace(state, registries=(*current.registries, *state.registries), users=(*state.users, admin)),
        )
    token = create_token(hm, user="bench-admin", name="bench", actor="bench").token.reveal()
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harbourmaster.cli.main",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not start")
                time.sleep(0.1)
            bodies = [
                {
                    "environment": f"k8s-{i % K8S_ENVS}",
                    "namespace": f"ns{i % NAMESPACES}",
                    "images": pod_images(i % K8S_ENVS, i % NAMESPACES),
                    # The 1,000 registries here are fictitious hosts: pinning tags to digests
                    # would measure DNS failures, not decisions.
                    "resolve": False,
                }
                for i in range(200)
            ]
            first = client.post("/api/v1/decisions", json=bodies[0])
            assert first.status_code == 200 and [d["allowed"] for d in first.json()] == [True] * 4 + [False]
            samples = []
            t_start = time.perf_counter()
            for i in range(requests):
                t0 = time.perf_counter_ns()
                r = client.post("/api/v1/decisions", json=bodies[i % len(bodies)])
                samples.append((time.perf_counter_ns() - t0) / 1000)
                assert r.status_code == 200
            elapsed = time.perf_counter() - t_start
    finally:
        server.terminate()
        server.wait(timeout=10)
    return {"p50": pct(samples, 0.5), "p99": pct(samples, 0.99), "rps": requests / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--http-only", action="store_true", help="only the HTTP API section")
    args = parser.parse_args()
    rounds = 5_000 if args.quick else 50_000
    t0 = time.perf_counter()
    state = build_state()
    print(
        f"model: 1,000 registries, 200 environments, 20,000 grants (built in {time.perf_counter() - t0:.2f}s)"
    )
    if args.http_only:
        with tempfile.TemporaryDirectory() as tmp:
            print_http(bench_http(state, 500 if args.quick else 3_000, Path(tmp)))
        print(f"date: {dt.date.today().isoformat()}")
        return
    ours = bench_in_process(state, rounds)
    with tempfile.TemporaryDirectory() as tmp:
        peer = bench_regorus(rounds, Path(tmp))
        http = bench_http(state, 500 if args.quick else 3_000, Path(tmp))
    per_image = ours["warm_p99"] / 5
    print(f"\nin process, pod of 5 images ({rounds} rounds)")
    print(
        f"  warm parse cache: p50 {ours['warm_p50']:.1f} µs, p99 {ours['warm_p99']:.1f} µs per pod; "
        f"p99 {per_image:.1f} µs per image (target < 100 µs); "
        f"{5e6 / ours['warm_mean']:,.0f} decisions/s"
    )
    print(
        f"  cold (every reference parsed): p50 {ours['cold_p50']:.1f} µs, "
        f"p99 {ours['cold_p99']:.1f} µs per pod; "
        f"p99 {ours['cold_p99'] / 5:.1f} µs per image; {5e6 / ours['cold_mean']:,.0f} decisions/s"
    )
    if peer:
        print(
            f"peer: Gatekeeper allowed-repos (1,000 prefixes) on regorus: p50 {peer['p50']:.1f} µs, "
            f"p99 {peer['p99']:.1f} µs per pod"
        )
        print(
            f"  ratio ours/peer (p99 per pod): warm {ours['warm_p99'] / peer['p99']:.2f}x, "
            f"cold {ours['cold_p99'] / peer['p99']:.2f}x  (lower is better)"
        )
    print_http(http)
    print(f"date: {dt.date.today().isoformat()}")


def print_http(http: dict[str, float]) -> None:
    print(
        "HTTP API (POST /api/v1/decisions, 5 images, audited, SQLite, no digest pinning): "
        f"p50 {http['p50'] / 1000:.2f} ms, "
        f"p99 {http['p99'] / 1000:.2f} ms, {http['rps'] * 5:,.0f} decisions/s ({http['rps']:,.0f} requests/s)"
    )


if __name__ == "__main__":
    main()
