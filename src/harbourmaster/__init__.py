"""harbourmaster: a registry-governance control plane for container platforms."""

from __future__ import annotations

from harbourmaster.errors import Error

__all__ = ["Error", "__version__"]
__version__ = "0.1.0"
