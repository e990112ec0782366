"""Debian's openssl as the independent oracle for what harbourmaster signs."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tests.components import ensure_binary


def openssl_verifies(public_pem: str, data: bytes, signature: bytes) -> bool:
    """Whether ``openssl dgst -sha256 -verify`` accepts ``signature`` (DER) over ``data`` with the key."""
    openssl = ensure_binary("openssl", "openssl")
    with tempfile.TemporaryDirectory(prefix="hm-openssl-") as work:
        tmp = Path(work)
        (tmp / "k.pub").write_text(public_pem)
        (tmp / "data").write_bytes(data)
        (tmp / "sig").write_bytes(signature)
        result = subprocess.run(
            [
                openssl,
                "dgst",
                "-sha256",
                "-verify",
                str(tmp / "k.pub"),
                "-signature",
                str(tmp / "sig"),
                str(tmp / "data"),
            ],
            capture_output=True,
            check=False,
        )
    return result.returncode == 0 and b"Verified OK" in result.stdout
