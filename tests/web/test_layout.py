"""The layout's accessibility that can be read from the HTML and CSS (the browser tests with axe-core
and a 360 px viewport come with the Playwright suite): skip link, landmarks, headings in order,
labelled controls, and text colours of at least 4.5:1."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib.resources import files

import pytest

from tests.web.conftest import ROLE_USERS, Web
from tests.web.test_roles import crawl

#: Every text colour on the background it is used on (hm.css's custom properties).
TEXT_PAIRS = [
    ("--text", "--page"), ("--text", "--panel"), ("--muted", "--page"), ("--muted", "--none-bg"),
    ("--link", "--page"), ("--link", "--panel"), ("--bar-text", "--bar"), ("--text", "--focus"),
    ("--focus", "--bar"), ("--button-text", "--button"), ("--expired-text", "--expired-bg"),
    ("--expiring-text", "--expiring-bg"), ("--set-text", "--set-bg"), ("--none-text", "--none-bg"),
    ("--text", "--expired-bg"), ("--text", "--set-bg"),
]


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_oracle() -> None:
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#767676", "#ffffff"), 2) == 4.54  # the well-known AA grey


def test_every_text_colour_has_aa_contrast_on_its_background() -> None:
    css = files("harbourmaster.web").joinpath("static/hm.css").read_text(encoding="utf-8")
    colours = dict(re.findall(r"(--[a-z-]+):\s*(#[0-9a-f]{6})\s*;", css))
    used = set(re.findall(r"var\((--[a-z-]+)\)", css))
    assert used <= set(colours), used - set(colours)
    for fg, bg in TEXT_PAIRS:
        assert contrast(colours[fg], colours[bg]) >= 4.5, (fg, bg)
    assert re.search(r":focus-visible\s*{[^}]*outline:\s*3px", css)  # focus is visible


class _Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.headings: list[int] = []
        self.ids: set[str] = set()
        self.labels: set[str] = set()
        self.controls: list[dict[str, str | None]] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))
        if tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.controls.append(a)


def _outline(html: str) -> _Outline:
    parser = _Outline()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("user", ROLE_USERS.values())
def test_every_page_has_a_skip_link_landmarks_ordered_headings_and_labelled_controls(web: Web, user: str
                                                                                      ) -> None:
    web.sign_in(user)
    pages = crawl(web)
    web.client.cookies.clear()
    pages["/ui/sign-in"] = web.client.get("/ui/sign-in").text
    for path, html in pages.items():
        page = _outline(html)
        first_link = next(a for tag, a in page.tags if tag == "a")
        assert first_link.get("href") == "#main" and "main" in page.ids, path
        assert any(tag == "main" for tag, _ in page.tags), path
        if path != "/ui/sign-in":
            assert any(tag == "nav" and a.get("aria-label") for tag, a in page.tags), path
        assert page.headings and page.headings[0] == 1 and page.headings.count(1) == 1, path
        for before, after in zip(page.headings, page.headings[1:], strict=False):
            assert after <= before + 1, (path, page.headings)
        for control in page.controls:
            assert control.get("id") in page.labels or control.get("aria-label"), (path, control)
        assert re.search(r'<html lang="en">', html)
        assert 'name="viewport" content="width=device-width, initial-scale=1"' in html


def test_tables_scroll_in_their_own_region(web: Web) -> None:
    web.sign_in("admin")
    for path, html in crawl(web).items():
        for table in re.finditer(r"<table>", html):
            opener = html[:table.start()].rsplit("<div", 1)[1]
            assert 'class="table-scroll"' in opener and 'role="region"' in opener, path
