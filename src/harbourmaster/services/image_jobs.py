"""The handlers of the image jobs: attach an SBOM, scan an image, verify its signatures, in the
background (``POST /api/v1/jobs/...`` answers ``202``; the CLI's ``--no-wait`` queues them).

Each acts for whoever submitted the job (:func:`~harbourmaster.services.job_kinds.job_principal`), with
that user's role when it runs, and answers a JSON result kept with the job.  A scan's result is its
verdict, summary and blocking findings (the findings themselves are kept with the digest's scan for the
verdict; ``scan IMAGE`` prints them all).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harbourmaster.domain.model import Tier
from harbourmaster.domain.reference import parse_reference
from harbourmaster.errors import BadInput
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_scope import approved_registry

__all__ = ["check_image_payload", "check_verify_payload", "run_attach", "run_scan", "run_verify"]

#: Blocking findings named in a scan job's result; the rest are counted.
MAX_BLOCKING_IN_RESULT = 50


def _text(payload: Mapping[str, object], key: str, *, kind: str, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadInput(f"an {kind} job needs {key!r} (a non-empty string) in its payload")
    return value


def check_image_payload(hm: Harbourmaster, payload: Mapping[str, object], *, kind: str) -> None:
    """Raises:
    BadInput: the payload has no image, or a tier that is not one.
    ReferenceError, ImageNotInApprovedRegistry: the image is in no approved registry.
    """
    image = _text(payload, "image", kind=kind)
    assert image is not None
    approved_registry(hm, parse_reference(image))
    tier = _text(payload, "tier", kind=kind, required=False)
    if tier is not None and tier not in {t.value for t in Tier}:
        raise BadInput(f"tier {tier!r} is not one of {', '.join(t.value for t in Tier)}")
    if payload.get("environment") is not None and tier is not None:
        raise BadInput("judge by an environment or by a tier, not both")


def check_verify_payload(hm: Harbourmaster, payload: Mapping[str, object]) -> None:
    """Raises:
    BadInput: the payload has no image or no environment.
    ReferenceError, ImageNotInApprovedRegistry: the image is in no approved registry.
    """
    check_image_payload(hm, payload, kind="image.verify")
    _text(payload, "environment", kind="image.verify")


def run_attach(hm: Harbourmaster, principal: Any, payload: Mapping[str, object], progress: Any) -> object:
    from harbourmaster.services.sbom_ops import attach_image_sbom

    image = _text(payload, "image", kind="sbom.attach")
    assert image is not None
    return attach_image_sbom(hm, principal, image, with_document=False, progress=progress).model_dump(
        mode="json"
    )


def run_scan(hm: Harbourmaster, principal: Any, payload: Mapping[str, object], progress: Any) -> object:
    from harbourmaster.services.scans import scan_target

    image = _text(payload, "image", kind="image.scan")
    assert image is not None
    environment = _text(payload, "environment", kind="image.scan", required=False)
    tier = _text(payload, "tier", kind="image.scan", required=False)
    result = scan_target(
        hm,
        principal,
        target=image,
        environment=environment,
        tier=Tier(tier) if tier else None,
        progress=progress,
    )
    verdict = result.verdict.model_dump(mode="json") if result.verdict is not None else None
    blocking = list(verdict["blocking"]) if verdict else []
    return {
        "target": result.target,
        "image": result.image.model_dump(mode="json"),
        "environment": result.environment,
        "verdict": verdict and {**verdict, "blocking": blocking[:MAX_BLOCKING_IN_RESULT]},
        "blocking_count": len(blocking),
        "summary": result.summary.model_dump(mode="json"),
        "warnings": result.warnings,
    }


def run_verify(hm: Harbourmaster, principal: Any, payload: Mapping[str, object], progress: Any) -> object:
    from harbourmaster.services.signing import verify_image

    image = _text(payload, "image", kind="image.verify")
    environment = _text(payload, "environment", kind="image.verify")
    assert image is not None and environment is not None
    del progress  # a few registry round trips: nothing to report between them
    return verify_image(hm, principal, image, environment=environment).model_dump(mode="json")
