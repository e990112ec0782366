"""A registry's event notifications, and the configuration that makes a registry send them.

``POST /registry-events/{registry}`` is the registry's own door: it is authenticated by the
registry's notification secret (``Authorization: Bearer <secret>``), checked by the request gate
before the body is read (api/gate.py), not by an API token.  ``POST /registries/{name}/notifications``
makes (or, with ``rotate``, replaces) that secret and answers the registry's ``notifications``
configuration, once: the secret is write-only.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from harbourmaster.api.deps import CoreDep, CurrentPrincipal, RequirePermission
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.errors import BadInput
from harbourmaster.services.registry_events import (
    EVENTS_MEDIA_TYPE,
    MAX_EVENTS,
    RegistryEventEnvelope,
    RegistryEventsOutcome,
    receive_registry_events,
)
from harbourmaster.services.registry_notifications import (
    NotificationSnippetPublic,
    create_notification_secret,
)

__all__ = ["router"]

router = APIRouter(tags=["registry-events"])

Writer = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_WRITE))]
_ACCEPTED_TYPES = (EVENTS_MEDIA_TYPE, "application/json")


class UnsupportedMediaType(BadInput):
    status = 415
    kind = "unsupported-media-type"


class MalformedBody(BadInput):
    status = 400
    kind = "malformed-body"


class NotificationsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, max_length=2048, examples=["https://harbourmaster.corp"])
    """harbourmaster's base URL as the registry reaches it (default: the URL of this request)."""
    rotate: bool = False
    """Replace the registry's secret (the old one stops working at once)."""


_ENVELOPE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["events"],
    "properties": {"events": {"type": "array", "maxItems": MAX_EVENTS, "items": {
        "type": "object",
        "required": ["action", "target"],
        "properties": {
            "id": {"type": "string"}, "timestamp": {"type": "string", "format": "date-time"},
            "action": {"type": "string", "examples": ["push", "pull"]},
            "target": {"type": "object", "properties": {
                k: {"type": "string"} for k in ("mediaType", "digest", "repository", "url", "tag")}},
            "request": {"type": "object"}, "actor": {"type": "object"}, "source": {"type": "object"},
        },
    }}},
}
_ENVELOPE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {media: {"schema": _ENVELOPE_SCHEMA} for media in _ACCEPTED_TYPES},
    }
}


def _envelope(body: bytes) -> RegistryEventEnvelope:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise MalformedBody(f"the event envelope is not JSON: {exc.__class__.__name__} at position "
                            f"{getattr(exc, 'pos', '?')}") from None
    try:
        return RegistryEventEnvelope.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


@router.post("/registry-events/{registry}", response_model=RegistryEventsOutcome,
             openapi_extra=_ENVELOPE_BODY)
async def receive(request: Request, hm: CoreDep, principal: CurrentPrincipal,
                  registry: Annotated[str, Path(max_length=128)]) -> RegistryEventsOutcome:
    """A registry's event notifications (the distribution registry's envelope): pulls are audited,
    pushed images are scanned in a ``registry.push`` job."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in _ACCEPTED_TYPES:
        raise UnsupportedMediaType(f"registry events are sent as {EVENTS_MEDIA_TYPE} (or application/json), "
                                   f"not {media or 'no content type'}")
    envelope = _envelope(await request.body())
    return await run_in_threadpool(receive_registry_events, hm, principal, registry, envelope)


@router.post("/registries/{name}/notifications", response_model=NotificationSnippetPublic)
def notifications(request: Request, hm: CoreDep, principal: Writer, name: str,
                  body: NotificationsBody | None = None) -> NotificationSnippetPublic:
    """Make registry ``name``'s notification secret (``rotate``: replace it) and answer the
    ``notifications`` section of the registry's config.yml; the secret is shown only here."""
    body = body or NotificationsBody()
    base = body.url or str(request.base_url)
    return create_notification_secret(hm, principal, name, base_url=base, rotate=body.rotate)
