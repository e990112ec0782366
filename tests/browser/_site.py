"""What the UI's routes require, read from the package itself, and what a page offers (links, forms).

Each UI route names its permission in one dependency (:func:`harbourmaster.web.access.viewing` for a
page, :func:`~harbourmaster.web.access.acting` for a form; both set ``.permission`` on the dependency).
Walking every router of ``harbourmaster.web`` gives the table the crawler judges links and forms by,
so a page added later is covered without editing these tests.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from harbourmaster.domain.authz import PERMISSIONS, Permission
from harbourmaster.domain.model import Role

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: Routes that answer any path (the "no such page" router): never a page's own route.
_CATCH_ALL = re.compile(r"\{[^}]*:path\}$")


@dataclass(frozen=True)
class UiRoute:
    path: str
    methods: frozenset[str]
    permissions: frozenset[Permission]
    regex: re.Pattern[str]

    def allows(self, role: str) -> bool:
        """Whether ``role`` holds every permission the route requires (none: anyone)."""
        return all(Role(role) in PERMISSIONS[p] for p in self.permissions)


def _permissions(dependant: Dependant) -> set[Permission]:
    found: set[Permission] = set()
    for dep in dependant.dependencies:
        perm = getattr(dep.call, "permission", None)
        if isinstance(perm, Permission):
            found.add(perm)
        found |= _permissions(dep)
    return found


def ui_routes() -> list[UiRoute]:
    """Every route of every router in ``harbourmaster.web`` (and its subpackages), catch-alls excluded."""
    import harbourmaster.web as web

    routes: dict[tuple[str, frozenset[str]], UiRoute] = {}
    for info in pkgutil.walk_packages(web.__path__, prefix="harbourmaster.web."):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            for route in getattr(value, "routes", None) or []:
                if not isinstance(route, APIRoute) or _CATCH_ALL.search(route.path):
                    continue
                key = (route.path, frozenset(route.methods or ()))
                routes[key] = UiRoute(route.path, key[1], frozenset(_permissions(route.dependant)),
                                      route.path_regex)
    return list(routes.values())


def route_of(routes: list[UiRoute], method: str, url: str) -> UiRoute | None:
    path = urlsplit(url).path
    for route in routes:
        if method in route.methods and route.regex.match(path):
            return route
    return None


@dataclass(frozen=True)
class FormSeen:
    action: str
    method: str
    enctype: str
    fields: tuple[tuple[str, str], ...]
    on: str  # the page it was on


_PAGE_PARTS = """() => {
  const links = [];
  for (const a of document.querySelectorAll('a[href]')) links.push(a.href);
  for (const el of document.querySelectorAll('[hx-get]'))
    links.push(new URL(el.getAttribute('hx-get'), location.href).href);
  const forms = [];
  for (const f of document.querySelectorAll('form')) {
    const fields = [];
    for (const el of f.elements) {
      if (!el.name || el.disabled) continue;
      if ((el.type === 'checkbox' || el.type === 'radio') && !el.checked) continue;
      if (el.type === 'file') continue;
      fields.push([el.name, el.value]);
    }
    const hxPost = f.getAttribute('hx-post');
    forms.push({action: hxPost ? new URL(hxPost, location.href).href : f.action,
                method: (hxPost ? 'post' : (f.getAttribute('method') || 'get')).toLowerCase(),
                enctype: f.enctype || 'application/x-www-form-urlencoded', fields});
  }
  return {links, forms};
}"""


def page_parts(page: Page, origin: str) -> tuple[list[str], list[FormSeen]]:
    """The same-origin ``/ui`` links (fragment dropped) and every form on ``page``."""
    parts: dict[str, Any] = page.evaluate(_PAGE_PARTS)
    links = []
    for href in parts["links"]:
        url = urljoin(page.url, href).split("#", 1)[0]
        if url.startswith(origin + "/ui"):
            links.append(url)
    forms = [FormSeen(action=f["action"], method=f["method"], enctype=f["enctype"],
                      fields=tuple((k, v) for k, v in f["fields"]), on=page.url) for f in parts["forms"]]
    return links, forms
