"""Real tools that build SBOM test inputs: a Go binary, an npm install, umoci images."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.components import ensure_binary, unavailable

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".bench" / "cache"
NPM_PACKAGES = ["semver@7.6.0", "debug@4.3.4", "@babel/helper-validator-identifier@7.22.20", "chalk@4.1.2"]
GO_MAIN = (
    'package main\n\nimport (\n\t"fmt"\n\t"example.com/greeter"\n)\n\n'
    "func main() { fmt.Println(greeter.Hello()) }\n"
)


def ensure_file(path: Path, apt_package: str) -> Path:
    """``path``, installing ``apt_package`` when it is missing and we are root; else unavailable()."""
    if not path.exists() and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", apt_package], env=env, capture_output=True, check=False
        )
    if not path.exists():
        unavailable(f"{path} (Debian package {apt_package}) is not installed")
    return path


def build_go_binary(workdir: Path) -> Path:
    """A Go program with one (locally replaced) module dependency, built offline."""
    go = ensure_binary("go", "golang-go")
    (workdir / "greeter").mkdir(parents=True, exist_ok=True)
    (workdir / "go.mod").write_text(
        "module example.com/hello\n\ngo 1.19\n\nrequire example.com/greeter v1.2.3\n\n"
        "replace example.com/greeter v1.2.3 => ./greeter\n"
    )
    (workdir / "greeter" / "go.mod").write_text("module example.com/greeter\n\ngo 1.19\n")
    (workdir / "greeter" / "g.go").write_text('package greeter\n\nfunc Hello() string { return "hello" }\n')
    (workdir / "main.go").write_text(GO_MAIN)
    env = dict(
        os.environ,
        GOPATH=str(workdir / "gopath"),
        GOCACHE=str(CACHE / "go-build"),
        GOFLAGS="-mod=mod",
        GOPROXY="off",
        CGO_ENABLED="0",
    )
    subprocess.run([go, "build", "-o", "hello", "."], cwd=workdir, env=env, check=True, capture_output=True)
    return workdir / "hello"


def npm_node_modules() -> Path:
    """node_modules from a real `npm install` of a few small packages, cached under .bench/cache."""
    npm = ensure_binary("npm", "npm")
    project = CACHE / "npm-fixture"
    if not (project / "node_modules" / "chalk" / "package.json").exists():
        project.mkdir(parents=True, exist_ok=True)
        (project / "package.json").write_text('{"name":"hm-fixture","version":"1.0.0","private":true}')
        result = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--cache", str(CACHE / "npm-cache"), *NPM_PACKAGES],
            cwd=project,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            shutil.rmtree(project / "node_modules", ignore_errors=True)
            unavailable(f"npm install failed (is the npm registry reachable?): {result.stderr[-300:]}")
    return project / "node_modules"


def npm_oracle(node_modules: Path) -> set[tuple[str, str]]:
    """(name, version) of every installed package, as `npm ls --all --parseable --long` reports them."""
    npm = ensure_binary("npm", "npm")
    out = subprocess.run(
        [npm, "ls", "--all", "--parseable", "--long"],
        cwd=node_modules.parent,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    found = set()
    for line in out.splitlines()[1:]:  # the first line is the project itself
        spec = line.split(":")[1]
        name, _, version = spec.rpartition("@")
        found.add((name, version))
    return found


class Umoci:
    """Builds an OCI layout layer by layer with umoci (each repack adds one gzip layer)."""

    def __init__(self, root: Path, tag: str = "v1") -> None:
        self.binary = ensure_binary("umoci", "umoci")
        self.layout = root / "layout"
        self.bundle = root / "bundle"
        self.ref = f"{self.layout}:{tag}"
        self._run("init", "--layout", str(self.layout))
        self._run("new", "--image", self.ref)
        self._run("unpack", "--rootless", "--image", self.ref, str(self.bundle))

    @property
    def rootfs(self) -> Path:
        return self.bundle / "rootfs"

    def repack(self) -> None:
        self._run("repack", "--refresh-bundle", "--image", self.ref, str(self.bundle))

    def tag(self, new_tag: str) -> None:
        self._run("tag", "--image", self.ref, new_tag)

    def _run(self, *args: str) -> None:
        subprocess.run([self.binary, *args], check=True, capture_output=True)
