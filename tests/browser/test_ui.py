"""The web UI (issue 16) in Debian's Chromium, against a real ``harbourmaster serve`` on SQLite and a real
distribution registry: the governance flows, then sweeps over every page each role can reach (role
leaks, forced URLs, CSRF on every form, axe-core, 360 px and 1280 px layouts) and, last, the canaries.

The tests of this module share one server and one browser and run in the order written: the flows
change what there is (a registry added, a grant), and the sweeps and the canary check come after them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest

from harbourmaster.domain.authz import PERMISSIONS
from harbourmaster.domain.model import Role
from harbourmaster.web.pages import NAVIGATION
from harbourmaster.web.sessions import CSRF_FIELD as _CSRF
from tests.browser._site import FormSeen, UiRoute, page_parts, route_of, ui_routes
from tests.browser.conftest import ADVISORY, CANARY, ROOT, TOKEN_CANARY, Stack, Traffic, shot_name, sign_in

if TYPE_CHECKING:
    from playwright.sync_api import APIRequestContext, APIResponse, BrowserContext, Locator, Page

pytestmark = pytest.mark.integration

ROLES = ("administrator", "platform-engineer", "auditor", "team-member")
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: Pages checked (axe, layout, screenshot) per route, and visited per route, by each role's crawl.
CHECKED_PER_ROUTE = 1
VISITED_PER_ROUTE = 2
MAX_PAGES = 60
README_SHOT = ROOT / "docs" / "ui-registries.png"


# -- shared state ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin(stack: Stack, new_context: Callable[..., BrowserContext]) -> Page:
    """The administrator, signed in, for the flows."""
    return sign_in(new_context(), stack, "administrator")


def nav_to(page: Page, name: str, waiting_on: str) -> None:
    """Follow the main navigation's link ``name`` (a regex); fail naming the page it waits on."""
    link = page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile(name, re.I))
    if link.count() == 0:
        pytest.fail(f"no {name!r} link in the navigation: waiting on {waiting_on}")
    link.first.click()
    page.wait_for_load_state()


def first_present(*locators: Locator) -> Locator | None:
    for loc in locators:
        if loc.count():
            return loc.first
    return None


def fill_if_present(page: Page, label: str, value: str) -> bool:
    field_ = page.get_by_label(re.compile(label, re.I))
    if field_.count() == 0:
        return False
    field_.first.fill(value)
    return True


def choose(control: Locator, value: str) -> None:
    """Select ``value`` in a select, or type it into a text field."""
    if control.evaluate("e => e.tagName") == "SELECT":
        control.select_option(value=value)
    else:
        control.fill(value)


def body_text(page: Page) -> str:
    return page.locator("main").inner_text()


# -- flows ----------------------------------------------------------------------------------------


def test_sign_in_with_an_api_token(stack: Stack, new_context: Callable[..., BrowserContext],
                                   shots: Path) -> None:
    context = new_context()
    page = context.new_page()
    # A page asked for before signing in answers the sign-in form, which returns to that page.
    answer = page.goto(stack.url("/ui/registries"))
    assert answer is not None and answer.status == 401
    page.screenshot(path=shots / shot_name("anonymous", "/ui/sign-in", 1280), full_page=True)
    # A wrong token (a canary: it must never be echoed) is refused with the reason, by the keyboard.
    for _ in range(6):  # the skip link, the brand, then the token field
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "token":
            break
    assert page.evaluate("document.activeElement.id") == "token", "the token field is not reached by Tab"
    page.keyboard.type(TOKEN_CANARY)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    alert = page.get_by_role("alert")
    assert alert.count() == 1 and alert.inner_text().strip()
    assert TOKEN_CANARY not in page.content()
    page.get_by_label("API token").fill(stack.tokens["administrator"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(stack.url("/ui/registries"))
    assert "Signed in as admin (administrator)" in page.locator("header").inner_text()
    cookie = next(c for c in context.cookies() if c["name"] == "hm_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # not readable by script
    # Signing out ends the session: the pages ask for a token again.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(stack.url("/ui/sign-in"))
    again = page.goto(stack.url("/ui/"))
    assert again is not None and again.status == 401


def test_add_a_registry_test_it_and_browse_its_image(stack: Stack, admin: Page, shots: Path) -> None:
    page = admin
    nav_to(page, "^Registries$", "the registries page")
    add = first_present(page.get_by_role("link", name=re.compile(r"add.*registry|new registry|^add$", re.I)),
                        page.get_by_role("button", name=re.compile(r"add.*registry|new registry", re.I)))
    if add is None:
        pytest.fail("no 'add registry' link on /ui/registries: waiting on the registry add/edit page")
    add.click()
    page.wait_for_load_state()
    # Provider templates: each a link to its own form (htmx swaps the form in place).
    page.locator('a[href*="provider=custom"]').first.click()
    page.get_by_label(re.compile(r"^name", re.I)).first.wait_for()
    page.screenshot(path=shots / shot_name("administrator", "/ui/registries/new-custom", 1280),
                    full_page=True)
    reg = stack.registry
    secret = page.locator("input[type=password]")
    assert secret.count() >= 1, "the registry form has no write-only (password) field for the secret"
    add = page.get_by_role("button", name=re.compile(r"^(add|save|create)", re.I)).first
    # Refused first (no URL): the problems are shown beside the form, and the secret is not sent back.
    assert fill_if_present(page, r"^name", "lab-ui")
    assert fill_if_present(page, r"^user ?name", reg.username or "")
    secret.first.fill(CANARY)
    with page.expect_navigation():
        add.click()
    problems = page.get_by_role("alert")
    assert problems.count() >= 1 and "URL" in problems.first.inner_text(), body_text(page)
    assert CANARY not in page.content()
    assert secret.first.input_value() == ""
    # Then complete: the refused form kept the other fields.
    assert page.get_by_label(re.compile(r"^name", re.I)).first.input_value() == "lab-ui"
    assert fill_if_present(page, r"^(url|address|registry url)", f"http://{reg.host}")
    fill_if_present(page, r"^scope", "hmui")
    assert fill_if_present(page, r"^user ?name", reg.username or "")
    secret.first.fill(CANARY)
    insecure = page.get_by_label(re.compile(r"plain http|insecure", re.I))
    if insecure.count():
        insecure.first.check()
    with page.expect_navigation():
        add.click()
    assert CANARY not in page.content()
    if page.url.rstrip("/").endswith("/ui/registries") is False:
        nav_to(page, "^Registries$", "the registries page")
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=re.compile("lab-ui")))
    assert row.count() == 1, body_text(page)
    assert "set" in row.inner_text()  # the credential's state, never its value
    row.get_by_role("button", name=re.compile("test connection", re.I)).click()
    result = page.locator("#test-result")
    result.wait_for(state="visible")
    page.wait_for_function("document.querySelector('#test-result') && "
                           "document.querySelector('#test-result').innerText.trim().length > 0")
    report = result.inner_text()
    assert "lab-ui" in report and re.search(r"\b(ok|succeeded|reachable|passed)\b", report, re.I), report
    page.screenshot(path=shots / shot_name("administrator", "/ui/registries-tested", 1280), full_page=True)
    # Browse: the registry's repositories, the pushed repository's tags, the tag's digest.
    browse = first_present(row.get_by_role("link", name=re.compile("browse", re.I)),
                           row.get_by_role("link", name=re.compile("lab-ui")))
    if browse is None:
        pytest.fail("no browse link for lab-ui on /ui/registries: waiting on the registry browse page")
    browse.click()
    page.wait_for_load_state()
    page.get_by_role("link", name=re.compile(r"hmui\/app")).first.click()
    page.wait_for_load_state()
    page.get_by_role("link", name=re.compile(r"^v1$")).first.click()
    page.wait_for_load_state()
    assert stack.images["hmui/app"] in body_text(page)
    page.screenshot(path=shots / shot_name("administrator", "/ui/registries/browse-digest", 1280),
                    full_page=True)


def test_grant_the_registry_to_a_namespace(stack: Stack, admin: Page) -> None:
    page = admin
    nav_to(page, "^Environments$", "the environments page")
    page.get_by_role("link", name=re.compile("^dev-k8s$")).first.click()
    page.wait_for_load_state()
    form = page.locator("form").filter(has=page.get_by_label(re.compile("namespace", re.I)))
    if form.count() == 0:
        pytest.fail("no grant form on /ui/environments/dev-k8s: waiting on the grants page")
    form = form.first
    choose(form.get_by_label(re.compile(r"^registry", re.I)).first, "lab-ui")
    choose(form.get_by_label(re.compile("namespace", re.I)).first, "team")
    form.get_by_role("button", name=re.compile("grant", re.I)).click()
    page.wait_for_load_state()
    rows = page.get_by_role("region", name=re.compile("grants", re.I)).get_by_role("row")
    granted = rows.filter(has_text="lab-ui").filter(has_text="team")
    assert granted.count() >= 1, body_text(page)


def test_check_a_manifest_and_see_the_denied_images_reason(stack: Stack, admin: Page, shots: Path) -> None:
    page = admin
    nav_to(page, "decision", "the decisions explorer")
    allowed = f"{stack.registry.host}/seed/tool:v1"
    denied = "quay.io/unapproved/miner:latest"
    manifest = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: app, namespace: tools}\nspec:\n  containers:\n"
        f"    - {{name: tool, image: '{allowed}'}}\n    - {{name: miner, image: '{denied}'}}\n"
    )
    page.get_by_label(re.compile(r"manifest", re.I)).first.fill(manifest)
    choose(page.get_by_label(re.compile(r"^environment", re.I)).first, "dev-k8s")
    fill_if_present(page, r"^namespace", "tools")
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile(r"check|decide|judge", re.I)).first.click()
    # (Playwright's name patterns are /.../ literals: a slash in them must be escaped.)
    verdict = page.get_by_role("region", name=re.compile(re.escape(denied).replace("/", r"\/")))
    if verdict.count() == 0:
        pytest.fail(f"no verdict on {denied} shown: {body_text(page)[:2000]}")
    page.screenshot(path=shots / shot_name("administrator", "/ui/decisions-result", 1280), full_page=True)
    text = verdict.first.inner_text()
    assert re.search(r"\bdenied\b", text, re.I), text
    # The source part denies it, and its reason says why: the registry is not approved.
    source = verdict.first.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Source"))
    reason = source.first.inner_text()
    assert "denies" in reason and re.search(r"approved|not granted|no registry", reason, re.I), reason
    assert allowed in body_text(page)


def test_find_the_images_an_imported_advisory_affects(stack: Stack, admin: Page, shots: Path) -> None:
    page = admin
    nav_to(page, "vulnerab", "the vulnerabilities page")
    section = page.get_by_role("navigation", name="Vulnerabilities").get_by_role(
        "link", name=re.compile(r"affect", re.I))
    if section.count() == 0:
        pytest.fail("no 'images an advisory affects' section: waiting on the vulnerabilities page")
    section.first.click()
    page.wait_for_load_state()
    box = page.get_by_role("textbox", name=re.compile(r"advisory|cve", re.I)).first
    box.fill(ADVISORY)
    with page.expect_navigation():
        box.press("Enter")
    digest = stack.images["seed/tool"]
    page.get_by_text(digest).first.wait_for(timeout=10_000)
    rows = page.get_by_role("row").filter(has_text=digest)
    assert rows.count() == 1, body_text(page)
    assert "seed/tool" in rows.first.inner_text() and "openssl" in rows.first.inner_text()
    # The image pushed without an SBOM kept is not claimed as affected.
    assert stack.images["hmui/app"] == digest or stack.images["hmui/app"] not in body_text(page)
    page.screenshot(path=shots / shot_name("administrator", "/ui/vulnerabilities-affected", 1280),
                    full_page=True)


def test_verify_the_audit_chain_and_export_it(stack: Stack, admin: Page, shots: Path,
                                              traffic: Traffic) -> None:
    page = admin
    nav_to(page, "^audit", "the audit page")
    button = page.get_by_role("button", name=re.compile("verify", re.I))
    if button.count():
        button.first.click()
        page.wait_for_load_state()
    status = page.get_by_text(re.compile(r"verified up to (record )?#?\d+", re.I))
    status.first.wait_for(timeout=10_000)
    assert not re.search(r"broken|tamper|fail", status.first.inner_text(), re.I)
    assert stack.cli("audit", "verify").returncode == 0  # the CLI agrees
    page.screenshot(path=shots / shot_name("administrator", "/ui/audit-verified", 1280), full_page=True)
    nav_to(page, "^audit", "the audit page")  # the whole verification is a page of its own
    assert page.get_by_text(re.compile(r"verified up to record \d+", re.I)).count()
    # The export: a download of every record (kept for the canary check), which names the flows above.
    with page.expect_download() as started:
        page.get_by_role("button", name=re.compile(r"download", re.I)).first.click()
    download = started.value
    data = Path(download.path()).read_bytes()
    traffic.add(download.url + "#download", 200, {}, data)
    assert b"lab-ui" in data and len(data.splitlines()) > 10


def test_readme_screenshot_of_the_registries_page(stack: Stack, admin: Page) -> None:
    page = admin
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(stack.url("/ui/registries"))
    README_SHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=README_SHOT, full_page=True)
    assert README_SHOT.stat().st_size > 10_000


# -- sweeps ---------------------------------------------------------------------------------------


@dataclass
class Crawl:
    role: str
    context: BrowserContext
    page: Page
    pages: list[tuple[str, UiRoute]] = field(default_factory=list)
    forms: list[FormSeen] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    axe: list[str] = field(default_factory=list)
    overflow: list[str] = field(default_factory=list)
    nav: set[str] = field(default_factory=set)
    headers: list[str] = field(default_factory=list)
    broken_words: list[str] = field(default_factory=list)
    #: Pages with a GET form (a search or filter).
    searches: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def routes() -> list[UiRoute]:
    return ui_routes()


_AXE = """async (tags) => {
  const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => `${v.impact} ${v.id}: ${v.help} at `
              + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '));
}"""


#: Table cells too narrow for a word of their own (up to 16 characters: words, names, host:port, not
#: digests; a hyphen may break): the word is broken mid-way, which a table that scrolls inside its
#: region need never do.
_BROKEN_WORDS = """() => {
  const out = [];
  for (const cell of document.querySelectorAll('main th, main td')) {
    // What is seen: not the screen readers' extra words.
    const hidden = [...cell.querySelectorAll('.visually-hidden')];
    hidden.forEach(e => { e.style.display = 'none'; });
    const text = cell.innerText;
    hidden.forEach(e => { e.style.display = ''; });
    const words = text.trim().split(/\\s+/).flatMap(w => w.split(/(?<=-)/))  // "-" may break
      .filter(w => w.length > 1 && w.length <= 16);
    if (!words.length) continue;
    const longest = words.reduce((a, b) => (a.length >= b.length ? a : b));
    const probe = document.createElement('span');
    probe.textContent = longest;
    Object.assign(probe.style, {whiteSpace: 'nowrap', position: 'absolute', visibility: 'hidden'});
    cell.appendChild(probe);
    const need = probe.getBoundingClientRect().width;
    probe.remove();
    const style = getComputedStyle(cell);
    const room = cell.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    if (need > room + 2) out.push(`"${longest}" in a ${room.toFixed(0)}px cell`);
  }
  return out.slice(0, 4);
}"""


def _check_page(crawl: Crawl, page: Page, shots: Path, url: str) -> None:
    """axe-core, 360 px and 1280 px widths (no horizontal scroll), and a screenshot at each width."""
    path = urlsplit(url).path
    for problem in page.evaluate(_AXE, WCAG):
        crawl.axe.append(f"{path}: {problem}")
    for width in (360, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            wide = page.evaluate("""(w) => [...document.querySelectorAll('main *, header *')]
              .filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.table-scroll'))
              .slice(0, 3).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                + (e.className ? '.' + String(e.className).split(' ').join('.') : ''))""", width)
            crawl.overflow.append(f"{path} at {width}px: scrollWidth {scroll} (widest: {', '.join(wide)})")
        broken = page.evaluate(_BROKEN_WORDS)
        if broken:
            crawl.broken_words.append(f"{path} at {width}px: {'; '.join(broken)}")
        page.screenshot(path=shots / shot_name(crawl.role, path, width), full_page=True)


def _crawl(role: str, stack: Stack, routes: list[UiRoute], traffic: Traffic, shots: Path,
           new_context: Callable[..., BrowserContext]) -> Crawl:
    from playwright.sync_api import Error as PlaywrightError  # installed: the browser fixture checked

    context = new_context()
    page = sign_in(context, stack, role)
    crawl = Crawl(role, context, page)
    nav = page.get_by_role("navigation", name="Main").locator("a")
    crawl.nav = {urlsplit(h).path for h in nav.evaluate_all("els => els.map(e => e.href)")}
    # Besides what the navigation leads to: a search's answer, whose links lead to an image's
    # signatures and SBOMs (and their downloads).
    queue = [stack.url("/ui/"), stack.url(f"/ui/vulnerabilities/affected?advisory={ADVISORY}")]
    seen: set[str] = set()
    visits: dict[str, int] = {}
    while queue and len(crawl.pages) < MAX_PAGES:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        if urlsplit(url).path.startswith("/ui/static/"):
            continue
        route = route_of(routes, "GET", url)
        if route is None:
            crawl.broken.append(f"{url}: linked, but no UI route answers GET there")
            continue
        if not route.allows(role):
            crawl.leaks.append(f"link to {url} shown, but {route.path} needs {sorted(route.permissions)}")
            continue
        # A route with other query parameters is another view (a repository's tags, an image's digest).
        key = route.path + "?" + ",".join(sorted(parse_qs(urlsplit(url).query)))
        visits[key] = visits.get(key, 0) + 1
        if visits[key] > VISITED_PER_ROUTE:
            continue
        fetched = context.request.get(url, max_redirects=0)
        traffic.add(url, fetched.status, fetched.headers, fetched.body())
        if fetched.status != 200:
            crawl.broken.append(f"{url}: answered {fetched.status}")
            continue
        missing = [h for h in ("content-security-policy", "x-frame-options", "x-content-type-options")
                   if h not in fetched.headers]
        if fetched.headers.get("cache-control") != "no-store":
            missing.append("cache-control: no-store")
        if missing:
            crawl.headers.append(f"{url}: lacks {', '.join(missing)}")
        if "text/html" not in fetched.headers.get("content-type", "") \
                or "attachment" in fetched.headers.get("content-disposition", ""):
            continue  # a download: its body is in the traffic for the canary check
        try:
            page.goto(url)
        except PlaywrightError as exc:
            crawl.broken.append(f"{url}: the browser could not open it: {exc.message.splitlines()[0]}")
            continue
        crawl.pages.append((url, route))
        links, forms = page_parts(page, stack.base)
        if any(form.method == "get" for form in forms):
            crawl.searches.append(url)
        for form in forms:
            if form.method != "post":
                continue
            target = route_of(routes, "POST", form.action)
            if target is None:
                crawl.broken.append(f"{url}: a form posts to {form.action}, which no UI route answers")
            elif not target.allows(role):
                crawl.leaks.append(f"{url}: a form posts to {form.action}, but {target.path} needs "
                                   f"{sorted(target.permissions)}")
            crawl.forms.append(form)
        if visits[key] <= CHECKED_PER_ROUTE:
            _check_page(crawl, page, shots, url)
        queue.extend(link for link in links if link not in seen)
    report = {"role": role, "pages": [u for u, _ in crawl.pages],
              "forms": sorted({f.action for f in crawl.forms}),
              "leaks": crawl.leaks, "broken": crawl.broken, "headers": crawl.headers,
              "axe": crawl.axe, "overflow": crawl.overflow, "broken_words": crawl.broken_words}
    (shots / f"crawl-{role}.json").write_text(json.dumps(report, indent=1))
    return crawl


@pytest.fixture(scope="module")
def crawls(stack: Stack, routes: list[UiRoute], traffic: Traffic, shots: Path,
           new_context: Callable[..., BrowserContext]) -> Iterator[Callable[[str], Crawl]]:
    done: dict[str, Crawl] = {}

    failed: dict[str, str] = {}

    def get(role: str) -> Crawl:
        if role in failed:  # crawl once: a crash is reported by every test that needs the crawl
            pytest.fail(f"the crawl as {role} crashed: {failed[role]}")
        if role not in done:
            try:
                done[role] = _crawl(role, stack, routes, traffic, shots, new_context)
            except Exception as exc:
                failed[role] = repr(exc)
                raise
        return done[role]

    yield get


@pytest.mark.parametrize("role", ROLES)
def test_a_crawler_as_each_role_meets_no_link_or_form_it_may_not_use(
        role: str, crawls: Callable[[str], Crawl]) -> None:
    crawl = crawls(role)
    assert crawl.pages, "the crawl reached no page"
    leaks = crawl.leaks
    assert not leaks, "\n".join(leaks)
    broken = crawl.broken
    assert not broken, "\n".join(broken)
    headers = crawl.headers
    assert not headers, "\n".join(headers)
    # The navigation offers every page of the navigation the role may use.
    missing = [p.path for p in NAVIGATION
               if Role(role) in PERMISSIONS[p.permission] and p.path not in crawl.nav]
    assert not missing, f"the navigation of {role} lacks {missing}"


def post_as_sent(request: APIRequestContext, form: FormSeen, fields: dict[str, str]) -> APIResponse:
    """POST ``fields`` to the form's action in the form's own encoding (URL-encoded or multipart)."""
    data: dict[str, Any] = dict(fields)
    if form.enctype == "multipart/form-data":
        return request.post(form.action, multipart=data, max_redirects=0)
    return request.post(form.action, form=data, max_redirects=0)


@pytest.mark.parametrize("role", [r for r in ROLES if r != "administrator"])
def test_forced_urls_and_forms_of_other_roles_answer_403(
        role: str, crawls: Callable[[str], Crawl], routes: list[UiRoute], stack: Stack,
        traffic: Traffic) -> None:
    everything = crawls("administrator")
    mine = crawls(role)
    request = mine.context.request
    wrong: list[str] = []
    urls = {url for url, route in everything.pages if not route.allows(role)}
    urls |= {stack.url(r.path) for r in routes
             if "GET" in r.methods and "{" not in r.path and not r.allows(role)}
    for url in sorted(urls):
        answer = request.get(url, max_redirects=0)
        traffic.add(url, answer.status, answer.headers, answer.body())
        if answer.status != 403:
            wrong.append(f"GET {url}: {answer.status}")
    csrf = mine.page.locator(f"input[name={_CSRF}]").first.get_attribute("value")
    assert csrf
    posted: set[str] = set()
    for form in everything.forms:
        target = route_of(routes, "POST", form.action)
        if target is None or target.allows(role) or target.path in posted:
            continue
        posted.add(target.path)
        answer = post_as_sent(request, form, {k: v for k, v in form.fields if k != _CSRF} | {_CSRF: csrf})
        traffic.add(form.action, answer.status, answer.headers, answer.body())
        if answer.status != 403:
            wrong.append(f"POST {form.action} (from {form.on}): {answer.status}")
    assert urls or posted, f"nothing of the administrator's is out of {role}'s reach: is the table empty?"
    assert not wrong, "\n".join(wrong)


def test_every_form_refuses_a_missing_csrf_token(crawls: Callable[[str], Crawl], routes: list[UiRoute],
                                                   stack: Stack, traffic: Traffic,
                                                   new_context: Callable[..., BrowserContext]) -> None:
    crawl = crawls("administrator")
    request = crawl.context.request
    wrong: list[str] = []
    tried: set[str] = set()
    for form in crawl.forms:
        target = route_of(routes, "POST", form.action)
        key = target.path if target else form.action
        if form.method != "post" or key in tried:
            continue
        tried.add(key)
        answer = post_as_sent(request, form, {k: v for k, v in form.fields if k != _CSRF})
        body = answer.text()
        traffic.add(form.action, answer.status, answer.headers, answer.body())
        if answer.status != 403 or "CSRF" not in body:
            wrong.append(f"POST {form.action} without its CSRF token (form on {form.on}): {answer.status}")
    # In the browser too: the sign-in form with its hidden CSRF input removed is refused.
    page = new_context().new_page()
    page.goto(stack.url("/ui/sign-in"))
    page.evaluate(f"document.querySelector('input[name={_CSRF}]').remove()")
    page.get_by_label("API token").fill(stack.tokens["auditor"])
    with page.expect_response(stack.url("/ui/sign-in")) as refused:
        page.get_by_role("button", name="Sign in").click()
    assert refused.value.status == 403
    assert "CSRF" in body_text(page)
    assert len(tried) >= 2, f"only {sorted(tried)} were found to post to"
    assert not wrong, "\n".join(wrong)


def test_axe_core_is_live_in_the_pages(stack: Stack, admin: Page) -> None:
    """The harness itself: on a real page (under its CSP), a planted unlabelled field is reported, so an
    empty report below means no violation, not no axe."""
    page = admin
    page.goto(stack.url("/ui/"))
    page.evaluate("""() => {
      const main = document.querySelector('main');
      main.insertAdjacentHTML('beforeend', '<input type="text" id="planted">');
    }""")
    found = " ".join(page.evaluate(_AXE, WCAG))
    assert "label" in found, found
    page.reload()


@pytest.mark.parametrize("role", ROLES)
def test_axe_core_finds_no_serious_or_critical_violation(role: str, crawls: Callable[[str], Crawl]) -> None:
    crawl = crawls(role)
    axe = crawl.axe
    assert not axe, "\n".join(axe)


@pytest.mark.parametrize("role", ROLES)
def test_no_page_scrolls_sideways_at_360_or_1280_px(role: str, crawls: Callable[[str], Crawl]) -> None:
    crawl = crawls(role)
    overflow = crawl.overflow
    assert not overflow, "\n".join(overflow)


@pytest.mark.parametrize("role", ROLES)
def test_table_cells_do_not_break_words_at_360_or_1280_px(role: str, crawls: Callable[[str], Crawl]) -> None:
    """A table too wide for the screen scrolls inside its region; its cells are not squeezed until their
    words break letter by letter (which the no-sideways-scroll check alone would not see)."""
    crawl = crawls(role)
    broken_words = crawl.broken_words
    assert not broken_words, "\n".join(broken_words)


XSS = '"><img src=x id=hm-injected><svg id=hm-injected-svg>'


def test_search_and_filter_forms_do_not_inject_markup(crawls: Callable[[str], Crawl]) -> None:
    """Every GET form (searches, filters, browse) submitted with markup in each text field: the answer
    shows it as text, never as elements."""
    crawl = crawls("administrator")
    page = crawl.page
    injected: list[str] = []
    tried: set[str] = set()
    for url in crawl.searches:
        page.goto(url)
        for index in range(page.locator("form[method=get]").count()):
            form = page.locator("form[method=get]").nth(index)
            action = form.get_attribute("action") or url
            if action in tried:
                continue
            tried.add(action)
            fields = form.locator("input[type=text], input[type=search], input:not([type])")
            if fields.count() == 0:
                continue
            for i in range(fields.count()):
                fields.nth(i).fill(XSS)
            with page.expect_navigation():
                form.locator("button[type=submit], button:not([type])").first.click()
            if page.locator("#hm-injected, #hm-injected-svg").count():
                injected.append(page.url)
            page.goto(url)
    assert len(tried) >= 3, f"only {sorted(tried)} had GET forms"
    assert not injected, injected


def test_no_canary_in_any_page_response_or_download(stack: Stack, traffic: Traffic,
                                                    crawls: Callable[[str], Crawl]) -> None:
    for role in ROLES:
        crawls(role)  # every page each role can reach has been fetched
    assert len(traffic.bodies) > 50
    leaks = {name: traffic.containing(value) for name, value in
             [("registry password", CANARY), ("mistyped token", TOKEN_CANARY),
              *((f"{role}'s API token", token) for role, token in stack.tokens.items())]}
    assert not any(leaks.values()), {k: v for k, v in leaks.items() if v}
