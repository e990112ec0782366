"""Helpers for tests that start real components on 127.0.0.1.

Under ``CI=true`` a missing component is a failure, never a skip.  Outside CI
the test is skipped with the reason, so a developer without root can still run
the unit tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Skip, or fail under CI, because a real component cannot be had."""
    if IN_CI:
        pytest.fail(f"component unavailable under CI=true: {reason}")
    pytest.skip(reason)


def ensure_binary(binary: str, apt_package: str) -> str:
    """Return the path of ``binary``, installing ``apt_package`` when absent and running as root."""
    path = shutil.which(binary)
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", apt_package], env=env, capture_output=True, check=False
        )
        path = shutil.which(binary)
        if not path:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", apt_package], env=env, capture_output=True, check=False
            )
            path = shutil.which(binary)
    if not path:
        unavailable(f"{binary} (Debian package {apt_package}) is not installed")
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], *, timeout: float = 20.0, what: str = "component") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # polling a starting server: any failure means "not yet"
            pass
        time.sleep(0.05)
    pytest.fail(f"{what} did not become ready within {timeout}s")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextlib.contextmanager
def running_serve(env: Mapping[str, str], *, port: int | None = None) -> Iterator[tuple[str, int]]:
    """``harbourmaster serve`` on a free 127.0.0.1 port (or ``port``) with ``env``; yields its base URL
    and process id, and stops it (SIGTERM, then SIGKILL) at the end."""
    import httpx

    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harbourmaster", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, timeout=20.0, what="harbourmaster serve")
        yield base, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
