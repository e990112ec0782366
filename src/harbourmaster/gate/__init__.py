"""The registry pull gate: an OCI distribution proxy that enforces the image policy verdict on pulls."""

from __future__ import annotations

from harbourmaster.gate.app import BlobDigestMismatch, create_gate_app

__all__ = ["BlobDigestMismatch", "create_gate_app"]
