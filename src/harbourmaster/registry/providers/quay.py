"""Quay (quay.io or Red Hat Quay) with a robot account."""

from __future__ import annotations

from harbourmaster.domain.secret import Secret
from harbourmaster.registry.providers._static import StaticTokenProvider

__all__ = ["Quay"]


class Quay(StaticTokenProvider):
    """Quay robot account: user ``<namespace>+<robot>`` and the robot's token."""

    name = "quay"
    blob_redirect_hosts = frozenset({"quay.io", "quay-registry.s3.amazonaws.com"})

    def __init__(self, robot: str, token: Secret) -> None:
        namespace, plus, robot_name = robot.partition("+")
        if not (namespace and plus and robot_name):
            raise ValueError(f"Quay robot account {robot!r} must look like 'namespace+robotname'")
        super().__init__(robot, token)
