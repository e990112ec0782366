"""The distribution API paths the pull gate serves, and its OCI error bodies."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from starlette.responses import Response

__all__ = ["ApiPath", "oci_error", "parse_api_path"]

# The distribution spec's repository name and tag grammars; a digest is checked by parse_digest.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = rf"{_COMPONENT}(?:/{_COMPONENT})*"
_REFERENCE = r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}|[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+"
_PATH = re.compile(
    rf"/v2/(?P<name>{_NAME})/(?:(?P<kind>manifests|blobs|referrers)/(?P<reference>{_REFERENCE})"
    r"|(?P<tags>tags/list))"
)
#: The longest path looked at (a repository name is at most 255 characters).
MAX_PATH = 1024


@dataclass(frozen=True, slots=True)
class ApiPath:
    """A path of the distribution API: ``kind`` is ``base``, ``catalog``, ``manifests``, ``blobs``,
    ``referrers`` or ``tags``."""

    kind: str
    repository: str | None = None
    reference: str | None = None


def parse_api_path(path: str) -> ApiPath | None:
    """The API path ``path`` names, or None when it is outside the distribution API."""
    if path in ("/v2/", "/v2"):
        return ApiPath("base")
    if path == "/v2/_catalog":
        return ApiPath("catalog")
    if len(path) > MAX_PATH:
        return None
    match = _PATH.fullmatch(path)
    if match is None:
        return None
    if match.group("tags"):
        return ApiPath("tags", match.group("name"))
    return ApiPath(match.group("kind"), match.group("name"), match.group("reference"))


def oci_error(status: int, code: str, message: str, *, head: bool = False,
              headers: dict[str, str] | None = None) -> Response:
    """An OCI distribution error body ``{"errors": [{"code", "message"}]}`` (empty for HEAD)."""
    body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()
    response = Response(b"" if head else body, status_code=status, media_type="application/json",
                        headers=headers)
    if head:
        response.headers["content-length"] = str(len(body))
    return response
