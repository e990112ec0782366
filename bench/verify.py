#!/usr/bin/env python3
"""Signature verification: cold (fetch + verify), cached, and in process, against openssl.

Run on demand (not part of the test suite)::

    .venv/bin/python bench/verify.py [--runs 30] [--in-process 1000]

1. Starts ``docker-registry`` on 127.0.0.1 (temporary storage), pushes a small image with
   harbourmaster's client, and signs it with a new ECDSA P-256 key (cosign's ``.sig`` layout).
2. Initialises a temporary harbourmaster home whose governance model trusts that key on the
   production tier, and times ``verify_image(..., environment="prod")``, the service every
   surface calls: cold (``use_cache=False``: resolve the tag, read the ``.sig`` manifest and
   payload, look for bundle artifacts, verify, write the verdict) and cached.
3. Times 1,000 in-process checks of the same signature (``check_tag_signature``: DER decode,
   ECDSA verify over the exact payload bytes, payload parse, digest and annotation checks)
   against the bare ``cryptography`` ECDSA verify of the same bytes (the physical floor).
4. Times ``openssl dgst -sha256 -verify`` of the same payload and signature, a process per
   verification as a shell script would run it, in the same run.
Prints medians and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from _signed import push_signed_image  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from pull import start_registry  # noqa: E402

from harbourmaster.registry import RegistryClient, RegistryEndpoint, TransportSecurity  # noqa: E402
from harbourmaster.registry.media import compute_digest  # noqa: E402
from harbourmaster.signing.keys import generate_private_key, load_public_key, public_key_pem  # noqa: E402
from harbourmaster.signing.oci import read_tag_signatures  # noqa: E402
from harbourmaster.signing.verify import TrustedKey, check_tag_signature  # noqa: E402

REPO = "bench/signed"


async def push_and_sign(host: str, key: ec.EllipticCurvePrivateKey) -> tuple[str, bytes, bytes]:
    endpoint = RegistryEndpoint(host, TransportSecurity(plain_http=True))
    async with RegistryClient(endpoint, development_only=True) as client:
        digest, payload, signature = await push_signed_image(client, host, REPO, key)
        found = await read_tag_signatures(client, REPO, digest)
        assert len(found) == 1
        return digest, payload, signature


GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: bench
    provider: custom
    url: http://{host}
    tls: {{insecure: true}}
environments:
  - name: prod
    kind: docker-standalone
    tier: production
signing:
  keys:
    - name: release
      public_key: |
{pem}
tiers:
  production: {{require_signature: true, signers: [release]}}
"""


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30, help="cold and cached verifications (default 30)")
    parser.add_argument("--in-process", type=int, default=1000, help="in-process checks (default 1000)")
    parser.add_argument("--openssl-runs", type=int, default=100, help="openssl processes (default 100)")
    args = parser.parse_args()
    for tool in ("docker-registry", "openssl"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (apt-get install docker-registry openssl)")
    work = Path(tempfile.mkdtemp(prefix="hm-bench-verify-"))
    proc, host = start_registry(work)
    try:
        key = generate_private_key()
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        digest, payload, signature = asyncio.run(push_and_sign(host, key))
        pem = public_key_pem(key)

        # 2. The service, cold and cached, on a real home (SQLite).
        os.environ["HARBOURMASTER_HOME"] = str(work / "home")
        from harbourmaster.domain.authz import Principal
        from harbourmaster.domain.model import Role
        from harbourmaster.services.apply import apply_document
        from harbourmaster.services.core import Harbourmaster
        from harbourmaster.services.signing import verify_image

        hm = Harbourmaster.from_environ()
        hm.init()
        admin = Principal("bench", Role.ADMINISTRATOR)
        indented = "\n".join("        " + line for line in pem.splitlines())
        apply_document(hm, admin, GOVERNANCE.format(host=host, pem=indented), source="bench.yaml")
        image = f"{host}/{REPO}:v1"
        first = verify_image(hm, admin, image, environment="prod", use_cache=False)
        assert first.satisfied, first.reason
        cold, cached = [], []
        for _ in range(args.runs):
            start = time.perf_counter()
            result = verify_image(hm, admin, image, environment="prod", use_cache=False)
            cold.append(time.perf_counter() - start)
            assert result.satisfied and not result.cached
            start = time.perf_counter()
            result = verify_image(hm, admin, image, environment="prod")
            cached.append(time.perf_counter() - start)
            assert result.satisfied and result.cached

        # 3. In process, against the bare ECDSA verify.
        from harbourmaster.signing.oci import TagSignature

        trusted = [TrustedKey("release", load_public_key(pem, source="bench"))]
        layer = TagSignature(
            layer_digest=compute_digest(payload),
            payload=payload,
            signature=base64.b64encode(signature).decode(),
        )
        public = key.public_key()
        ours, floor = [], []
        for _ in range(args.in_process):
            start = time.perf_counter()
            check = check_tag_signature(layer, trusted, image_digest=digest)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            public.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
            floor.append(time.perf_counter() - start)
            assert check.verified

        # 4. openssl, a process per verification.
        (work / "k.pub").write_text(pem)
        (work / "payload").write_bytes(payload)
        (work / "sig").write_bytes(signature)
        command = [
            "openssl",
            "dgst",
            "-sha256",
            "-verify",
            str(work / "k.pub"),
            "-signature",
            str(work / "sig"),
            str(work / "payload"),
        ]
        openssl = []
        for _ in range(args.openssl_runs):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, check=False)
            openssl.append(time.perf_counter() - start)
            assert done.returncode == 0 and b"Verified OK" in done.stdout
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(work, ignore_errors=True)

    in_process_us = statistics.median(ours) * 1e6
    floor_us = statistics.median(floor) * 1e6
    cold_ms, cached_ms, openssl_ms = median_ms(cold), median_ms(cached), median_ms(openssl)
    print(f"image {image} ({digest}), one ECDSA P-256 signature in cosign's .sig layout")
    print(
        f"verify --env (service, SQLite, local registry): cold p50 {cold_ms:.2f} ms "
        f"(p90 {statistics.quantiles(cold, n=10)[-1] * 1000:.2f} ms), cached p50 {cached_ms:.2f} ms "
        f"over {args.runs} runs"
    )
    print(
        f"in process: check_tag_signature p50 {in_process_us:.1f} us vs bare cryptography ECDSA verify "
        f"{floor_us:.1f} us (x{in_process_us / floor_us:.2f}) over {args.in_process} checks"
    )
    print(
        f"openssl dgst -verify (a process each): p50 {openssl_ms:.2f} ms over {args.openssl_runs} runs; "
        f"cold service x{cold_ms / openssl_ms:.2f}, cached x{cached_ms / openssl_ms:.2f}, "
        f"in process x{in_process_us / 1000 / openssl_ms:.4f}"
    )


if __name__ == "__main__":
    main()
