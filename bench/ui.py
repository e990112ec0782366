#!/usr/bin/env python3
"""Web UI page latency: every page rendered server-side with 1,000 registries, 200 environments and
20,000 grants; the target is p95 <= 100 ms per page.

Run on demand (not part of the test suite)::

    .venv/bin/python bench/ui.py [--rounds 50] [--profile PATH]

1. Makes a data directory (SQLite, the real default) and applies a generated governance document
   through the services (``apply_document``, so the model obeys the model's rules): 1,000 Harbor
   registries (100 hosts x 10 project scopes), 100 Kubernetes environments of 20 namespaces each and 100
   docker-standalone environments, 50 teams of 10 users, and 20,000 grants (10,000 per namespace on
   Kubernetes, 10,000 per team on docker-standalone, with the access entries those need).  Then adds
   ``--audit-records`` (default 100,000) audit records: a long-running installation's log, which the
   audit and assessment pages must not read whole on every view.
2. Signs in once through the sign-in form with an administrator's API token (the role that sees every
   page), then GETs each UI page ``--rounds`` times in process with the TestClient (no network noise):
   every parameterless ``GET /ui/...`` route the application has when this runs (found from its routes,
   so pages other sessions add are measured too), plus one environment and one registry's edit, delete
   and robot accounts pages, when those routes exist, the list's last page and a filtered list.  Registry
   browsing is left out: it asks the registry itself, and these 1,000 hosts are fictitious.  The
   application is made as ``serve`` makes it (``freeze_heap``); every page is fetched once and the heap
   frozen before timing, as the freezer's pass does within 30 s of a model change in ``serve``.
3. The baseline, measured in the same run and the same way: the JSON API's GETs of the same data
   (``/api/v1/registries``, ``/api/v1/environments``, ``/api/v1/environments/{name}``, ``/api/v1/grants``,
   ``/api/v1/assessment`` for the assessment pages) with the same token, through the same services and
   the API's per-request token check and audit record.
   The ratio says what rendering HTML costs over serialising the same answer as JSON.

Prints per page p50, p95 and max in milliseconds, and the ratio of its p95 to its baseline's p95.
``--profile PATH`` writes a cProfile of the slowest page's requests to PATH.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from fastapi.routing import APIRoute  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

HOSTS, SCOPES = 100, 10  # 1,000 registries
K8S_ENVS, DOCKER_ENVS, NAMESPACES = 100, 100, 20
TEAMS, USERS_PER_TEAM = 50, 10
K8S_REGISTRIES_PER_ENV = 5  # x 20 namespaces x 100 environments = 10,000 grants
DOCKER_REGISTRIES_PER_ENV, DOCKER_TEAMS_PER_ENV = 10, 10  # x 100 environments = 10,000 grants
TARGET_MS = 100.0
#: Downloads of the whole audit log: as long as the log, like ``audit export``; timed as throughput
#: against the API's export of the same records, not against the page target.
DOWNLOADS = {"/ui/audit/export": "/api/v1/audit/export?checkpoint=false"}
print = functools.partial(print, flush=True)  # progress shows while pages are slow


def governance_document() -> str:
    """The generated model as a governance document (YAML is JSON: JSON it is, for speed)."""
    import json

    registries = [
        {"name": f"reg-{h}-{s}", "provider": "harbor", "url": f"https://reg{h}.corp", "scope": f"team{s}"}
        for h in range(HOSTS) for s in range(SCOPES)
    ]
    namespaces = [f"ns{n}" for n in range(NAMESPACES)]
    environments = [
        {"name": f"k8s-{e}", "kind": "kubernetes", "tier": "production", "namespaces": namespaces}
        for e in range(K8S_ENVS)
    ] + [
        {"name": f"docker-{e}", "kind": "docker-standalone", "tier": "staging"} for e in range(DOCKER_ENVS)
    ]
    users = [{"name": "bench-admin", "role": "administrator"}] + [
        {"name": f"u{t}-{i}", "role": "team-member"} for t in range(TEAMS) for i in range(USERS_PER_TEAM)
    ]
    teams = [{"name": f"team{t}", "members": [f"u{t}-{i}" for i in range(USERS_PER_TEAM)]}
             for t in range(TEAMS)]

    def docker_teams(e: int) -> list[str]:
        return [f"team{(e + k) % TEAMS}" for k in range(DOCKER_TEAMS_PER_ENV)]

    access = [{"environment": f"k8s-{e}", "team": f"team{e % TEAMS}"} for e in range(K8S_ENVS)]
    access += [{"environment": f"docker-{e}", "team": t} for e in range(DOCKER_ENVS) for t in docker_teams(e)]
    grants = [
        {"registry": f"reg-{(e + k * 7) % HOSTS}-{k % SCOPES}", "environment": f"k8s-{e}",
         "namespaces": namespaces}
        for e in range(K8S_ENVS) for k in range(K8S_REGISTRIES_PER_ENV)
    ] + [
        {"registry": f"reg-{(e + k * 3) % HOSTS}-{k}", "environment": f"docker-{e}", "teams": docker_teams(e)}
        for e in range(DOCKER_ENVS) for k in range(DOCKER_REGISTRIES_PER_ENV)
    ]
    return json.dumps({
        "apiVersion": "harbourmaster.io/v1", "kind": "Governance", "registries": registries,
        "environments": environments, "users": users, "teams": teams, "access": access, "grants": grants,
    })


def add_audit_records(hm, count: int) -> float:  # type: ignore[no-untyped-def]
    """``count`` more audit records (a long-running installation's log), chained as the services chain
    them; the seconds it took."""
    from harbourmaster.store.values import AuditEvent

    t0 = time.perf_counter()
    for start in range(0, count, 5000):
        with hm.store.transaction() as tx:
            tx.audit.append_many([
                AuditEvent(actor=f"u{i % 500}", action="token.use", target=f"token {i % 700}",
                           details={"route": "/api/v1/registries", "method": "GET"})
                for i in range(start, min(count, start + 5000))
            ])
    return time.perf_counter() - t0


def build(workdir: Path):  # type: ignore[no-untyped-def]
    from harbourmaster.domain.authz import Principal
    from harbourmaster.domain.model import Role
    from harbourmaster.services.apply import apply_document
    from harbourmaster.services.core import Harbourmaster
    from harbourmaster.services.tokens import create_token

    env = {k: v for k, v in os.environ.items() if not k.startswith("HARBOURMASTER_")}
    env["HARBOURMASTER_HOME"] = str(workdir / "home")
    hm = Harbourmaster.from_environ(env)
    hm.init()
    t0 = time.perf_counter()
    apply_document(hm, Principal(hm.local_actor(), Role.ADMINISTRATOR), governance_document(),
                   source="bench-governance.json", host=hm.host_files())
    applied = time.perf_counter() - t0
    state = hm.state()
    # init adds the built-in Docker Hub registry: 1,000 generated ones beside it.
    counts = (sum(r.name.startswith("reg-") for r in state.registries), len(state.environments),
              len(state.grants))
    assert counts == (1000, 200, 20000), counts
    token = create_token(hm, user="bench-admin", name="bench", actor="bench").token.reveal()
    return hm, token, applied


def pages(app) -> list[str]:  # type: ignore[no-untyped-def]
    """Every UI page to time: parameterless GET routes under /ui, and a few with a parameter."""
    found: list[str] = []
    templates: set[str] = set()
    for path, methods in _routes(app.routes, ""):
        if "GET" not in methods:
            continue
        if not path.startswith("/ui/") and path != "/ui":
            continue
        templates.add(path)
        if "{" in path or path.startswith(("/ui/oidc/", "/ui/static")) or path == "/ui":
            continue
        found.append(path)
    wanted = {
        "/ui/environments/{name}": "/ui/environments/k8s-42",
        "/ui/registries/{name}/edit": "/ui/registries/reg-42-3/edit",
        "/ui/registries/{name}/delete": "/ui/registries/reg-42-3/delete",
        "/ui/registries/{name}/robots": "/ui/registries/reg-42-3/robots",
    }
    found += [path for template, path in wanted.items() if template in templates]
    if "/ui/registries" in found:  # the list's last page, and a filter that matches one host's ten
        found += ["/ui/registries?page=21", "/ui/registries?q=reg42.corp"]
    return found


def _routes(routes: list[object], prefix: str) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, through included routers (which FastAPI may keep as such)."""
    out: list[tuple[str, set[str]]] = []
    for route in routes:
        if isinstance(route, APIRoute):
            out.append((prefix + route.path, set(route.methods)))
        elif hasattr(route, "original_router") and hasattr(route, "include_context"):
            out += _routes(route.original_router.routes, prefix + route.include_context.prefix)
    return out


def baseline_of(page: str) -> str:
    if page.startswith("/ui/assessment"):
        return "/api/v1/assessment"  # the same report as JSON
    if page.startswith("/ui/environments/"):
        return "/api/v1/environments/k8s-42"
    if page.startswith("/ui/environments"):
        return "/api/v1/environments"
    if page.startswith("/ui/grants"):
        return "/api/v1/grants"
    return "/api/v1/registries"  # the largest answer of the model: 1,000 registries with their grants


def time_gets(client: TestClient, path: str, rounds: int, headers: dict[str, str] | None = None
              ) -> tuple[list[float], int, int]:
    first = client.get(path, headers=headers)  # warm: templates compiled, model loaded
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        answer = client.get(path, headers=headers)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples, first.status_code, len(answer.content)


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--profile", type=Path, default=None, help="write a cProfile of the slowest page")
    parser.add_argument("--only", default=None, help="time only pages whose path contains this")
    parser.add_argument("--audit-records", type=int, default=100_000,
                        help="audit records added before timing (the audit page must not read them all)")
    args = parser.parse_args()

    from harbourmaster.api.app import create_app
    from harbourmaster.web.sessions import CSRF_FIELD

    with tempfile.TemporaryDirectory(prefix="hm-bench-ui-") as tmp:
        hm, token, applied = build(Path(tmp))
        print(f"model applied through the services in {applied:.1f} s: 1,000 registries, 200 environments, "
              f"20,000 grants (SQLite)")
        if args.audit_records:
            took = add_audit_records(hm, args.audit_records)
            print(f"{args.audit_records:,} audit records added in {took:.1f} s")
        # As serve makes it: with the heap freezer (serve owns its process; see api.lifespan.HeapFreezer).
        with TestClient(create_app(hm, freeze_heap=True), base_url="http://testserver") as client:
            form = client.get("/ui/sign-in").text
            csrf = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', form)
            assert csrf is not None
            signed = client.post("/ui/sign-in", data={CSRF_FIELD: csrf.group(1), "token": token},
                                 follow_redirects=False)
            assert signed.status_code == 303, signed.text
            bearer = {"Authorization": f"Bearer {token}"}
            chosen = [p for p in pages(client.app) if args.only is None or args.only in p]
            to_time = [p for p in chosen if p not in DOWNLOADS]
            for path in to_time:  # every page once: its read models built, then frozen as serve does
                client.get(path)
            client.app.state.heap_freezer.freeze()  # type: ignore[attr-defined]

            baselines: dict[str, float] = {}
            print(f"\n{'baseline (JSON API, same token)':<44} {'p50':>8} {'p95':>8} {'max':>8}  {'bytes':>9}")
            for path in sorted({baseline_of(p) for p in to_time}):
                samples, status, size = time_gets(client, path, args.rounds, bearer)
                assert status == 200, (path, status)
                baselines[path] = pct(samples, 0.95)
                print(f"{path:<44} {statistics.median(samples):8.1f} {pct(samples, 0.95):8.1f} "
                      f"{max(samples):8.1f}  {size:9,}")

            print(f"\n{'UI page':<44} {'p50':>8} {'p95':>8} {'max':>8}  {'bytes':>9}  {'status':>6}  "
                  f"ratio p95 to baseline")
            results: dict[str, float] = {}
            for path in to_time:
                samples, status, size = time_gets(client, path, args.rounds)
                p95 = pct(samples, 0.95)
                results[path] = p95
                base = baseline_of(path)
                verdict = "" if p95 <= TARGET_MS else f"  MISSES {TARGET_MS:.0f} ms"
                print(f"{path:<44} {statistics.median(samples):8.1f} {p95:8.1f} {max(samples):8.1f}  "
                      f"{size:9,}  {status:>6}  {p95 / baselines[base]:5.2f}x {base}{verdict}")
            missed = [p for p, v in results.items() if v > TARGET_MS]
            print(f"\n{len(results) - len(missed)} of {len(results)} pages within p95 <= {TARGET_MS:.0f} ms"
                  + (f"; missed: {', '.join(missed)}" if missed else ""))
            downloads = [p for p in chosen if p in DOWNLOADS]
            if downloads:
                print(f"\n{'download (whole log), 3 rounds':<44} {'p50 s':>8} {'MB/s':>8}  {'bytes':>13}  "
                      f"ratio to {'the API export':<14}")
            for path in downloads:
                ui_samples, status, size = time_gets(client, path, 3)
                api_samples, api_status, _ = time_gets(client, DOWNLOADS[path], 3, bearer)
                assert status == api_status == 200, (path, status, api_status)
                ui_s, api_s = statistics.median(ui_samples) / 1000, statistics.median(api_samples) / 1000
                print(f"{path:<44} {ui_s:8.2f} {size / 1e6 / ui_s:8.1f}  {size:13,}  {ui_s / api_s:5.2f}x "
                      f"{DOWNLOADS[path]} ({api_s:.2f} s)")
            if args.profile is not None and results:
                slowest = max(results, key=lambda p: results[p])
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(max(5, args.rounds // 5)):
                    client.get(slowest)
                profiler.disable()
                profiler.dump_stats(str(args.profile))
                print(f"cProfile of {slowest} written to {args.profile}")


if __name__ == "__main__":
    main()
