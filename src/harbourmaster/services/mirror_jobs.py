"""The ``mirror`` background job: its payload check, its handler, and its submission.

Payload: ``{"image_set": YAML text, "source": the file's name, "to": a registry name, "tier": optional}``.
Submitting needs the registry-probe permission (the job kind's) and, when the set names a ``signer``,
the image-sign permission too (:func:`submit_mirror` checks both; the run checks them again, in the
submitter's name, before anything is copied).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.model import Tier
from harbourmaster.errors import BadInput
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.imagesets import read_image_set
from harbourmaster.services.registry_scope import named_registry

__all__ = ["MIRROR_KIND", "check_mirror_payload", "run_mirror", "submit_mirror"]

MIRROR_KIND = "mirror"


def _text(payload: Mapping[str, object], key: str, *, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadInput(f"a mirror job needs {key!r} (a non-empty string) in its payload")
    return value


def check_mirror_payload(hm: Harbourmaster, payload: Mapping[str, object]) -> None:
    """Raises:
    BadInput / ImageSetInvalid: a missing field, a malformed image set, a tier that is not one.
    NotFound: no such target registry.
    """
    text = _text(payload, "image_set")
    assert text is not None
    read_image_set(text, source=_text(payload, "source", required=False) or "image set")
    named_registry(hm, _text(payload, "to") or "")
    tier = _text(payload, "tier", required=False)
    if tier is not None and tier not in {t.value for t in Tier}:
        raise BadInput(f"tier {tier!r} is not one of {', '.join(t.value for t in Tier)}")


def run_mirror(
    hm: Harbourmaster, principal: Principal, payload: Mapping[str, object], progress: Any
) -> object:
    from harbourmaster.services.mirror import mirror

    tier = _text(payload, "tier", required=False)
    result = mirror(
        hm,
        principal,
        _text(payload, "image_set") or "",
        source=_text(payload, "source", required=False) or "image set",
        to_registry=_text(payload, "to") or "",
        tier=Tier(tier) if tier else None,
        progress=progress,
    )
    return result.model_dump(mode="json")


def submit_mirror(
    hm: Harbourmaster,
    principal: Principal,
    image_set_text: str,
    *,
    source: str,
    to_registry: str,
    tier: Tier | None = None,
) -> Any:
    """Queue a mirror of the ImageSet into ``to_registry``; a ``JobPublic``.

    Raises:
        Forbidden: ``principal`` may not use registry credentials, or may not sign when a signer is named.
        ImageSetInvalid, BadInput, NotFound: as :func:`check_mirror_payload`.
    """
    from harbourmaster.services.job_requests import submit_job

    require(principal, Permission.REGISTRY_PROBE)
    if read_image_set(image_set_text, source=source).signer is not None:
        require(principal, Permission.IMAGE_SIGN)
    payload: dict[str, object] = {"image_set": image_set_text, "source": source, "to": to_registry}
    if tier is not None:
        payload["tier"] = tier.value
    return submit_job(hm, principal, MIRROR_KIND, payload)
