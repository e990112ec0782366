"""The web UI in a real browser: Debian's Chromium driven by Playwright, against a real
``harbourmaster serve`` on SQLite and a real distribution registry with an image pushed by skopeo.

Fixtures (module-scoped, so one server, one registry and one browser serve a whole module):

``stack``     the running server (its own ``HARBOURMASTER_HOME``, the governance document below applied,
              one API token per role written by ``harbourmaster token create``), the registry, the
              pushed images, and an advisory imported after the image's SBOM was stored.
``browser``   Chromium, headless (``--no-sandbox``: the tests run as root).
``axe``       axe-core's ``axe.min.js``, fetched from npm into a cache directory on first use.
``shots``     where screenshots go: ``$HM_TEST_ARTIFACTS/ui-screenshots`` or ``build/ui-screenshots``.
``traffic``   every response body any browser context of the module saw, for the canary checks.

Under ``CI=true`` a missing component (Chromium, Playwright, npm, axe-core) fails, never skips
(:func:`tests.components.unavailable`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.components import ensure_binary, running_serve, stop_process, unavailable
from tests.integration.registry_fixtures import (
    PASSWORD,
    RunningRegistry,
    push_dpkg_image,
    start_registry,
)
from tests.supply.advisories._osv import CVSS_CRITICAL, fixed_at, record, write_dir

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Response

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
AXE_VERSION = "4"
#: The canary typed into the add-registry form as the registry's password (also the real password of
#: the test registry, so "test connection" proves it was stored): it must appear in no response.
CANARY = PASSWORD
#: A second canary, typed into the sign-in form as a (wrong) token.
TOKEN_CANARY = "hm_canary-token-4b1d9e7a-never-echo"
ADVISORY = "CVE-2099-4242"
ADVISORY_ID = "DSA-UI-4242"
#: One user of each role; the team member has access to dev-k8s through the team "team".
ROLE_USERS = {
    "administrator": "admin",
    "platform-engineer": "platform",
    "auditor": "auditor",
    "team-member": "dev",
}

GOVERNANCE = """\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: lab
    provider: custom
    url: http://{host}
    scope: seed
    credential: {{kind: user, username: {user}, secret: env:HM_UI_LAB_SECRET}}
    tls: {{insecure: true}}
environments:
  - name: dev-k8s
    kind: kubernetes
    tier: development
    namespaces: [team, tools]
  - name: prod-eu
    kind: kubernetes
    tier: production
    namespaces: [payments]
    hide_dockerhub_anonymous: true
users:
  - {{name: admin, role: administrator}}
  - {{name: platform, role: platform-engineer}}
  - {{name: auditor, role: auditor}}
  - {{name: dev, role: team-member}}
teams:
  - {{name: team, members: [dev]}}
access:
  - {{environment: dev-k8s, team: team}}
grants:
  - registry: lab
    environment: dev-k8s
    namespaces: [tools]
"""


@dataclass
class Stack:
    base: str
    pid: int
    home: Path
    env: dict[str, str]
    registry: RunningRegistry
    tokens: dict[str, str]
    #: repository -> digest of the images pushed (``seed/tool`` is granted, ``hmui/app`` is not yet).
    images: dict[str, str]

    def url(self, path: str) -> str:
        return self.base + path

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _cli(self.env, *args, check=check)


def _cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "harbourmaster", *args], env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"harbourmaster {' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("ui-stack")
    ensure_binary("skopeo", "skopeo")
    registry = start_registry(root / "registry", auth="htpasswd")
    try:
        home = root / "home"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("HARBOURMASTER_") and not k.startswith("HM_")}
        env.update(HARBOURMASTER_HOME=str(home), HM_UI_LAB_SECRET=PASSWORD,
                   HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL="0")
        images = {repo: push_dpkg_image(registry, root / repo.replace("/", "-"), repo)
                  for repo in ("seed/tool", "hmui/app")}
        doc = root / "governance.yaml"
        doc.write_text(GOVERNANCE.format(host=registry.host, user=registry.username))
        _cli(env, "init")
        _cli(env, "apply", "-f", str(doc))
        tokens = {}
        for role, user in ROLE_USERS.items():
            out = root / f"{user}.token"
            _cli(env, "token", "create", "--user", user, "--name", "browser-tests", "-o", str(out))
            tokens[role] = out.read_text().strip()
        # The seed image's SBOM in the store (indexed by purl), then an advisory on a package it holds.
        _cli(env, "sbom", "generate", f"{registry.host}/seed/tool:v1", "-o", str(root / "seed.cdx.json"))
        advisories = write_dir(root / "osv", [record(
            ADVISORY_ID, "Debian:12", "openssl", events=fixed_at("99.0"), aliases=[ADVISORY],
            cvss=CVSS_CRITICAL, summary="a browser-test advisory on openssl")])
        _cli(env, "vulndb", "import", str(advisories))
        with running_serve(env) as (base, pid):
            yield Stack(base=base, pid=pid, home=home, env=env, registry=registry, tokens=tokens,
                        images=images)
    finally:
        if registry.proc is not None:
            stop_process(registry.proc)


# -- the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        ensure_binary("chromium", "chromium")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the Python package playwright is not installed (pip install playwright)")
    with sync_playwright() as p:
        try:
            launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        except PlaywrightError as exc:
            unavailable(f"Chromium did not start: {exc}")
        try:
            yield launched
        finally:
            launched.close()


def _axe_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harbourmaster-tests" / f"axe-core-{AXE_VERSION}"


@pytest.fixture(scope="session")
def axe() -> str:
    """axe-core's ``axe.min.js`` (npm ``axe-core@4``), fetched with ``npm pack`` into a cache directory."""
    cache = _axe_cache()
    script = cache / "axe.min.js"
    if not script.exists():
        npm = ensure_binary("npm", "npm")
        cache.mkdir(parents=True, exist_ok=True)
        packed = subprocess.run([npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(cache)],
                                capture_output=True, text=True, timeout=180, check=False)
        tarballs = sorted(cache.glob("axe-core-*.tgz"))
        if packed.returncode != 0 or not tarballs:
            unavailable(f"npm could not fetch axe-core@{AXE_VERSION}: {packed.stderr[-500:]}")
        with tarfile.open(tarballs[-1]) as tar:
            member = tar.extractfile("package/axe.min.js")
            assert member is not None
            data = member.read()
        partial = cache / "axe.min.js.part"
        partial.write_bytes(data)
        partial.replace(script)
    return script.read_text()


@pytest.fixture(scope="session")
def shots() -> Path:
    """The screenshot directory (created): ``$HM_TEST_ARTIFACTS/ui-screenshots`` or build/ui-screenshots."""
    base = os.environ.get("HM_TEST_ARTIFACTS")
    directory = Path(base) / "ui-screenshots" if base else ROOT / "build" / "ui-screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    for old in [*directory.glob("*.png"), *directory.glob("crawl-*.json")]:  # this run's only
        old.unlink()
    return directory


def shot_name(label: str, path: str, width: int) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", path.removeprefix("/ui")).strip("-") or "overview"
    return f"{label}--{slug[:80]}--{width}.png"


# -- traffic capture --------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Every response body seen: (url, status, body). Downloads fetched through a request context
    are added with :meth:`add`."""

    bodies: list[tuple[str, int, bytes]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def on_response(self, response: Response) -> None:
        try:
            body = response.body()
        except Exception:  # redirects and aborted loads have no body to read
            if not (300 <= response.status < 400):
                self.unreadable.append(response.url)
            body = b""
        try:  # every header, Set-Cookie among them (``response.headers`` leaves those out)
            pairs = [(h["name"], h["value"]) for h in response.headers_array()]
        except Exception:  # a response whose headers are gone: the ones Playwright kept
            pairs = list(response.headers.items())
        headers = "\n".join(f"{k}: {v}" for k, v in pairs).encode()
        self.bodies.append((response.url, response.status, headers + b"\n\n" + body))

    def add(self, url: str, status: int, headers: dict[str, str], body: bytes) -> None:
        text = "\n".join(f"{k}: {v}" for k, v in headers.items()).encode()
        self.bodies.append((url, status, text + b"\n\n" + body))

    def containing(self, needle: str) -> list[str]:
        raw = needle.encode()
        return [url for url, _status, body in self.bodies if raw in body]


@pytest.fixture(scope="module")
def traffic() -> Traffic:
    return Traffic()


@pytest.fixture(scope="module")
def new_context(browser: Browser, traffic: Traffic, axe: str) -> Iterator[Any]:
    """Make a browser context whose responses are captured and whose pages carry axe-core
    (injected as an init script, which the pages' Content-Security-Policy does not block)."""
    made: list[BrowserContext] = []

    def make(width: int = 1280) -> BrowserContext:
        context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
        context.add_init_script(axe)
        context.on("response", traffic.on_response)
        context.set_default_timeout(15_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


def sign_in(context: BrowserContext, stack: Stack, role: str) -> Page:
    """Sign in through the form with the keyboard: type the token, press Enter; the overview answers."""
    page = context.new_page()
    page.goto(stack.url("/ui/sign-in"))
    page.get_by_label("API token").fill(stack.tokens[role])
    page.get_by_label("API token").press("Enter")
    page.wait_for_url(re.compile(r"/ui/(?!sign-in)"))
    return page

