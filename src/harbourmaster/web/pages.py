"""Pages: what each one is called, where it lives and which permission it needs; the templates that
render them; and the security headers every answer under ``/ui`` carries.

A page's :class:`Page` is the one place its permission is named: its handler requires it
(:func:`harbourmaster.web.access.viewing`), and the navigation shows its link only to a viewer who holds
it (:meth:`Viewer.can`), so what is shown and what is allowed cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Final

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from harbourmaster import __version__
from harbourmaster.domain.authz import PERMISSIONS, Permission, Principal
from harbourmaster.web.sessions import CSRF_FIELD, Session

__all__ = [
    "ASSESSMENT",
    "AUDIT",
    "DECISIONS",
    "ENVIRONMENTS",
    "JOBS",
    "NAVIGATION",
    "OVERVIEW",
    "REGISTRIES",
    "SECURITY_HEADERS",
    "UI_PREFIX",
    "VULNERABILITIES",
    "Page",
    "Viewer",
    "render",
]

UI_PREFIX: Final = "/ui"


@dataclass(frozen=True, slots=True)
class Page:
    title: str
    path: str
    permission: Permission


OVERVIEW: Final = Page("Overview", f"{UI_PREFIX}/", Permission.GOVERNANCE_READ)
REGISTRIES: Final = Page("Registries", f"{UI_PREFIX}/registries", Permission.GOVERNANCE_READ)
ENVIRONMENTS: Final = Page("Environments", f"{UI_PREFIX}/environments", Permission.GOVERNANCE_READ)
JOBS: Final = Page("Jobs", f"{UI_PREFIX}/jobs", Permission.GOVERNANCE_READ)
AUDIT: Final = Page("Audit", f"{UI_PREFIX}/audit", Permission.AUDIT_READ)
ASSESSMENT: Final = Page("Assessment", f"{UI_PREFIX}/assessment", Permission.GOVERNANCE_READ)
DECISIONS: Final = Page("Decisions", f"{UI_PREFIX}/decisions", Permission.DECISION_CHECK)
VULNERABILITIES: Final = Page("Vulnerabilities", f"{UI_PREFIX}/vulnerabilities", Permission.GOVERNANCE_READ)
#: The main navigation, in order; each link is shown only to a viewer whose role holds its permission.
NAVIGATION: Final = (OVERVIEW, REGISTRIES, ENVIRONMENTS, JOBS, AUDIT, ASSESSMENT, DECISIONS, VULNERABILITIES)

#: Every answer under /ui: no script or style from anywhere but here, no framing, no referrer.
SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: the signed-in principal (None on the sign-in page) and the session."""

    session: Session
    principal: Principal | None = None

    def can(self, permission: Permission) -> bool:
        """Whether the viewer's role holds ``permission``: the same table the services ``require()``."""
        return self.principal is not None and self.principal.role in PERMISSIONS[permission]


_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(files("harbourmaster.web").joinpath("templates"))),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.globals.update(
    P=Permission, NAVIGATION=NAVIGATION, REGISTRIES=REGISTRIES, ENVIRONMENTS=ENVIRONMENTS,
    CSRF_FIELD=CSRF_FIELD, UI=UI_PREFIX, version=__version__,
)


def render(request: Request, viewer: Viewer, template: str, context: Mapping[str, Any] | None = None, *,
           status: int = 200) -> HTMLResponse:
    """``template`` rendered for ``viewer``; ``hx`` in the context says htmx asked for a fragment."""
    html = _templates.get_template(template).render(
        viewer=viewer,
        can=viewer.can,
        csrf=viewer.session.csrf,
        path=request.url.path,
        hx=request.headers.get("HX-Request") == "true",
        oidc_issuer=getattr(request.app.state, "ui_oidc_issuer", None),
        **(context or {}),
    )
    return HTMLResponse(html, status_code=status)
