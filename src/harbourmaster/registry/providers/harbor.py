"""Harbor with a robot account."""

from __future__ import annotations

from harbourmaster.domain.secret import Secret
from harbourmaster.registry.providers._static import StaticTokenProvider

__all__ = ["Harbor"]


class Harbor(StaticTokenProvider):
    """Harbor robot account: name ``robot$<project>+<name>`` (the prefix is configurable in
    Harbor, ``robot$`` by default) and its secret, exchanged at Harbor's ``/service/token``."""

    name = "harbor"

    def __init__(self, robot: str, secret: Secret, *, prefix: str = "robot$") -> None:
        if not robot.startswith(prefix) or len(robot) == len(prefix):
            raise ValueError(f"Harbor robot account {robot!r} must start with {prefix!r}")
        super().__init__(robot, secret)
