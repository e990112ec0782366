"""Enforcement: finding what deployment content would run, to check it against policy."""

from __future__ import annotations

from harbourmaster.enforce.content import (
    MAX_CONTENT_BYTES,
    MAX_EXPANDED_NODES,
    ContentError,
    DeploymentContent,
    load_deployment_content,
    load_deployment_file,
)

__all__ = [
    "MAX_CONTENT_BYTES",
    "MAX_EXPANDED_NODES",
    "ContentError",
    "DeploymentContent",
    "load_deployment_content",
    "load_deployment_file",
]
