"""Running ``harbourmaster gate serve`` in tests: a governance model around one upstream, kept scans,
and the gate as a real process on a free port."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from harbourmaster.domain.findings import Finding
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.values import StoredScan
from tests._helpers import cli_ok
from tests.components import free_port, stop_process, wait_until

GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: lab
    provider: custom
    url: http://{host}
    tls: {{insecure: true}}
users:
  - {{name: ops, role: administrator}}
environments:
  # The lab registry is plain HTTP, which only the development tier accepts.
  - {{name: dev, kind: docker-standalone, tier: development}}
access:
  - {{user: ops, environment: dev}}
grants:
  - {{registry: lab, environment: dev, users: [ops]}}
tiers:
  development: {{block_severity: high, unscanned: block}}
"""


def govern(tmp_path: Path, upstream_host: str, *, scope: str | None = None) -> None:
    """``init`` and ``apply`` a model whose registry ``lab`` is ``upstream_host`` (development tier),
    covering only ``scope`` of it when given."""
    doc = tmp_path / "governance.yaml"
    text = GOVERNANCE.format(host=upstream_host)
    if scope is not None:
        text = text.replace(
            f"    url: http://{upstream_host}\n", f"    url: http://{upstream_host}\n    scope: {scope}\n"
        )
    doc.write_text(text)
    cli_ok("init")
    cli_ok("apply", "-f", str(doc))


def keep_scan(image: str, digest: str, *findings: Finding) -> None:
    """Record a kept scan of ``digest`` (as the push-time scan would)."""
    hm = Harbourmaster.from_environ()
    with hm.store.transaction() as tx:
        tx.scans.record(
            StoredScan(
                image_digest=digest,
                image_name=image,
                scanned_at=dt.datetime.now(dt.UTC),
                components=len(findings),
                findings=findings,
                origin="registry",
            )
        )


@contextlib.contextmanager
def running_gate(*, registry: str = "lab", env: str = "dev", extra: tuple[str, ...] = ()) -> Iterator[str]:
    """``harbourmaster gate serve`` on a free port; yields ``127.0.0.1:PORT``; stopped by its pid."""
    port = free_port()
    log = open(Path(os.environ["HARBOURMASTER_HOME"]) / f"gate-{port}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harbourmaster",
            "gate",
            "serve",
            "--registry",
            registry,
            "--env",
            env,
            "--port",
            str(port),
            "--log-level",
            "warning",
            *extra,
        ],
        env=dict(os.environ),
        stdout=log,
        stderr=log,
    )
    host = f"127.0.0.1:{port}"

    def answers() -> bool:
        assert proc.poll() is None, Path(log.name).read_text()
        return httpx.get(f"http://{host}/healthz", timeout=1).status_code == 200

    try:
        wait_until(answers, timeout=30.0, what="harbourmaster gate serve")
        yield host
    finally:
        stop_process(proc)
        log.close()
