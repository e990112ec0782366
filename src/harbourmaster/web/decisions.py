"""The decisions explorer: paste or upload a Kubernetes manifest or compose file, choose the environment
and its namespace or user, and see every image's verdict with its three parts and their reasons.

It calls the service the API's ``POST /decisions`` calls (:func:`check_deployment`), audited as there;
a refusal (a team member checking an environment it has no access to, a namespace the environment does
not have, content that cannot be read) is shown beside the form with its status.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from harbourmaster.errors import BadInput, Error
from harbourmaster.services import governance_reads
from harbourmaster.services.decisions import check_deployment
from harbourmaster.web.access import core, viewing
from harbourmaster.web.pages import DECISIONS, Viewer, render
from harbourmaster.web.route import UiRoute
from harbourmaster.web.uploads import UploadForm, uploading

__all__ = ["router"]

router = APIRouter(route_class=UiRoute, include_in_schema=False)

#: The form's fields, as the page names them.
_FIELDS = ("environment", "namespace", "user", "content")


def _page(request: Request, viewer: Viewer, values: dict[str, str], *, result: Any = None,
          error: Error | None = None) -> Response:
    principal = viewer.principal
    assert principal is not None
    environments = governance_reads.list_environments(core(request), principal)
    return render(request, viewer, "decisions.html", {
        "page": DECISIONS, "environments": environments, "values": values, "result": result,
        "error": error,
    }, status=error.status if error is not None else 200)


@router.get(DECISIONS.path)
def decisions_page(request: Request, viewer: Annotated[Viewer, Depends(viewing(DECISIONS.permission))]
                   ) -> Response:
    return _page(request, viewer, dict.fromkeys(_FIELDS, ""))


def _content(upload: UploadForm) -> tuple[str, str]:
    """The content to check and where it came from: the uploaded file, else the pasted text.

    Raises:
        BadInput: both or neither given, or the file is not UTF-8 text.
    """
    pasted = upload.form.get("content")
    file = upload.files.get("file")
    if file is not None and pasted.strip():
        raise BadInput("give the content once: paste it or upload a file, not both")
    if file is not None:
        try:
            return file.content.decode("utf-8-sig"), f"upload {file.filename or 'file'}"
        except UnicodeDecodeError as exc:
            raise BadInput(f"the uploaded file {file.filename!r} is not UTF-8 text") from exc
    if not pasted.strip():
        raise BadInput("paste a Kubernetes manifest or compose file, or upload one")
    return pasted, "pasted content"


@router.post(DECISIONS.path)
def check(request: Request, upload: Annotated[UploadForm, Depends(uploading(DECISIONS.permission))]
          ) -> Response:
    viewer, form = upload.viewer, upload.form
    principal = viewer.principal
    assert principal is not None
    values = {name: form.get(name) for name in _FIELDS}
    try:
        content, source = _content(upload)
        result = check_deployment(
            core(request), principal, environment=values["environment"], content=content, source=source,
            namespace=values["namespace"].strip() or None, user=values["user"].strip() or None,
        )
    except Error as exc:  # the service's refusal or the content's problem, beside the form
        return _page(request, viewer, values, error=exc)
    denied = sum(1 for d in result.decisions if not d.allowed)
    return _page(request, viewer, values, result={"decisions": result.decisions, "denied": denied,
                                                  "build_only": result.build_only, "source": source})
