"""Policies for admission and network engines other than harbourmaster's own, written from one
:class:`~harbourmaster.domain.admission_rules.AdmissionRules`: Kyverno, Gatekeeper, Cilium egress; and
the reading of such files back (:mod:`~harbourmaster.domain.exports.drift`) for ``policy diff``."""

from __future__ import annotations

import enum

__all__ = ["ExportFormat"]


class ExportFormat(enum.StrEnum):
    """What ``policy export`` writes."""

    KYVERNO = "kyverno"
    GATEKEEPER = "gatekeeper"
    CILIUM_EGRESS = "cilium-egress"
