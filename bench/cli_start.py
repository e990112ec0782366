"""CLI start-up: how long ``harbourmaster --help`` and a one-image ``check`` take, end to end.

Each run is a new process, as a user or a CI job starts it: the interpreter, the imports,
the command.  The baseline, ``python -c pass`` with the same interpreter, is measured in
the same run, interleaved with the commands so that a busy machine slows all three alike.
``check`` runs on a temporary HARBOURMASTER_HOME holding the example model
(examples/governance.yaml), with ``--no-resolve`` (no registry is asked).  Bytecode is
cached as it is for an installed package (PYTHONDONTWRITEBYTECODE is dropped; the caches
go to a temporary PYTHONPYCACHEPREFIX, written by a warm-up run of each command).

Targets: ``--help`` <= 300 ms and ``check`` <= 600 ms (median).

Run: .venv/bin/python bench/cli_start.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "governance.yaml"
EXAMPLE_SECRETS = {
    "HM_EXAMPLE_HARBOR_PAYMENTS_SECRET": "bench-harbor-payments",
    "HM_EXAMPLE_HARBOR_WEB_SECRET": "bench-harbor-web",
    "HM_EXAMPLE_ECR_SECRET": "bench-ecr",
    "HM_EXAMPLE_GHCR_TOKEN": "bench-ghcr",
}
TARGETS_MS = {
    "harbourmaster --help": 300.0,
    "harbourmaster check (one image)": 600.0,
    "harbourmaster check --source-only": 600.0,
}
#: Exit codes other than 0: production requires a scan and a signature, which an image not pinned
#: (--no-resolve) and never scanned cannot have, so the full verdict denies it (exit 1).
EXPECT = {"harbourmaster check (one image)": 1}


def harbourmaster_command() -> list[str]:
    """The installed console script beside this interpreter (what users run), else ``-m``."""
    script = Path(sys.executable).with_name("harbourmaster")
    return [str(script)] if script.exists() else [sys.executable, "-m", "harbourmaster"]


def timed(argv: list[str], env: dict[str, str], *, expect: int = 0) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != expect:
        sys.exit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode(errors='replace')}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command (default 20)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hm-bench-cli-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HARBOURMASTER_") and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    env.update(EXAMPLE_SECRETS, HARBOURMASTER_HOME=str(home), PYTHONPYCACHEPREFIX=str(home / "pycache"))
    hm = harbourmaster_command()
    try:
        for setup in (["init"], ["apply", "-f", str(EXAMPLE)]):
            subprocess.run([*hm, *setup], env=env, check=True, stdout=subprocess.DEVNULL)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "harbourmaster --help": [*hm, "--help"],
            "harbourmaster check (one image)": [
                *hm, "check", "--env", "prod-eu", "--namespace", "payments",
                "harbor.corp/payments/api:1.4", "--no-resolve",
            ],
            "harbourmaster check --source-only": [
                *hm, "check", "--env", "prod-eu", "--namespace", "payments",
                "harbor.corp/payments/api:1.4", "--no-resolve", "--source-only",
            ],
        }
        for name, argv in commands.items():  # warm the page cache and the bytecode caches
            timed(argv, env, expect=EXPECT.get(name, 0))
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                samples[name].append(timed(argv, env, expect=EXPECT.get(name, 0)))
    finally:
        shutil.rmtree(home, ignore_errors=True)

    baseline = statistics.median(samples["python -c pass"]) * 1000
    print(f"CLI start-up, median of {args.runs} runs each (interleaved), {' '.join(hm)}")
    print(f"{'command':34} {'median':>9} {'min':>9} {'max':>9} {'vs python':>10}  target")
    for name, values in samples.items():
        ms = [v * 1000 for v in values]
        median = statistics.median(ms)
        target = TARGETS_MS.get(name)
        verdict = "" if target is None else f"<= {target:.0f} ms: {'met' if median <= target else 'MISSED'}"
        print(
            f"{name:34} {median:7.1f}ms {min(ms):7.1f}ms {max(ms):7.1f}ms "
            f"{median / baseline:9.1f}x  {verdict}"
        )


if __name__ == "__main__":
    main()
