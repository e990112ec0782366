"""Audit: the log, filtered (actor, action, target, result, time range) and paged newest first; the
hash chain's status (the same verification as ``harbourmaster audit verify`` and the API's
``/audit/verify``); and the export, the API's JSON lines, as a download: the records alone by a link,
or ending with a checkpoint signed there and then by a form (it writes the checkpoint)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response, StreamingResponse

from harbourmaster.errors import BadInput
from harbourmaster.services import audit_log
from harbourmaster.services.audit_search import MAX_PAGE, search_audit
from harbourmaster.store.values import AuditFilter
from harbourmaster.web.access import Acting, acting, core, viewing
from harbourmaster.web.pages import AUDIT, Viewer, render
from harbourmaster.web.route import UiRoute

__all__ = ["EXPORT_FILENAME", "PAGE_SIZE", "router"]

#: Records on one page unless asked otherwise (at most MAX_PAGE).
PAGE_SIZE: Final = 50
EXPORT_FILENAME: Final = "harbourmaster-audit.jsonl"
#: The download is streamed in pieces of about this many characters of whole lines.
CHUNK: Final = 64 * 1024

router = APIRouter(route_class=UiRoute, include_in_schema=False)

_Text = Annotated[str, Query(max_length=512)]


def _moment(text: str, *, name: str) -> dt.datetime | None:
    """A time bound from the form ("" for none): a date or a date and time; without a zone it is UTC.

    Raises:
        BadInput: neither.
    """
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{name} {text!r} is not a date (2026-01-31) or a date and time (2026-01-31T14:00)"
                       ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


@router.get(AUDIT.path)
def audit_page(
    request: Request,
    viewer: Annotated[Viewer, Depends(viewing(AUDIT.permission))],
    actor: _Text = "",
    action: _Text = "",
    target: _Text = "",
    result: _Text = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE)] = PAGE_SIZE,
) -> Response:
    hm, principal = core(request), viewer.principal
    assert principal is not None
    where = AuditFilter(actor=actor.strip() or None, action=action.strip() or None,
                        target=target.strip() or None, result=result.strip() or None,
                        since=_moment(since.strip(), name="from"), until=_moment(until.strip(), name="until"),
                        before=before)
    page = search_audit(hm, principal, where, limit=size)
    chain = audit_log.verify(hm, principal, incremental=True)
    shown = {"actor": actor, "action": action, "target": target, "result": result, "since": since,
             "until": until}
    kept = {k: v for k, v in shown.items() if v}
    if size != PAGE_SIZE:
        kept["size"] = str(size)
    return render(request, viewer, "audit.html", {
        "page": AUDIT, "records": page.records, "older": page.older, "newest": before is not None,
        "filters": shown, "kept": kept, "size": size, "chain": chain, "filtered": bool(kept),
    })


@router.post(AUDIT.path + "/verify")
def audit_verify_all(request: Request, act: Annotated[Acting, Depends(acting(AUDIT.permission))]) -> Response:
    """Verify the whole chain from its first record now, with every checkpoint (what ``audit verify``
    does): a form, since it may take a while on a long log."""
    principal = act.viewer.principal
    assert principal is not None
    chain = audit_log.verify(core(request), principal)
    return render(request, act.viewer, "audit_verified.html", {"page": AUDIT, "chain": chain})


def _download(lines: Iterator[str]) -> Response:
    return StreamingResponse(lines, media_type="application/x-ndjson",
                             headers={"Content-Disposition": f'attachment; filename="{EXPORT_FILENAME}"'})


@router.get(AUDIT.path + "/export")
def audit_export(request: Request, viewer: Annotated[Viewer, Depends(viewing(AUDIT.permission))]
                 ) -> Response:
    """The records only: a link may be followed by anyone's browser at any time, so it signs nothing."""
    principal = viewer.principal
    assert principal is not None
    return _download(audit_log.export_lines(core(request), principal, checkpoint=False, chunk_bytes=CHUNK))


@router.post(AUDIT.path + "/export")
def audit_export_signed(request: Request, act: Annotated[Acting, Depends(acting(AUDIT.permission))]
                        ) -> Response:
    """The records ending with a checkpoint signed now (it is also appended to the server's checkpoint
    file), as the API's export gives by default: a form, since it writes."""
    principal = act.viewer.principal
    assert principal is not None
    # The checkpoint is signed before the first line (CheckpointRefused on a broken chain: a page).
    return _download(audit_log.export_lines(core(request), principal, checkpoint=True, chunk_bytes=CHUNK))
