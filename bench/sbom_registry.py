"""Benchmark: SBOM generation from a registry image against the same image as an OCI layout.

Uses the large bench image that ``bench/sbom.py`` builds and caches under
``.bench/sbom/large`` (run that first).  Starts a private CNCF distribution
registry on 127.0.0.1 (plain HTTP, a temporary directory), pushes the image with
skopeo, then times, each in a child process whose peak RSS is read from
``getrusage``: the scan from the layout, and the scan streamed from the registry.

Run from the repository root: ``.venv/bin/python bench/sbom_registry.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.components import free_port, stop_process, wait_until  # noqa: E402

LAYOUT = REPO / ".bench" / "sbom" / "large" / "layout"
PYTHON = sys.executable

CHILD = """
import sys, time, json
from harbourmaster.registry import RegistryEndpoint, TransportSecurity, Anonymous
from harbourmaster.supply.sbom import default_catalogers, open_source, scan_image
from harbourmaster.supply.sbom.sources.registry import RegistrySource
start = time.perf_counter()
if sys.argv[1] == "layout":
    source = open_source(sys.argv[2])
else:
    source = RegistrySource(endpoint=RegistryEndpoint(sys.argv[2], TransportSecurity(plain_http=True)),
                            provider=Anonymous(), repository="bench/large", reference="v1",
                            name=sys.argv[2] + "/bench/large:v1", development_only=True)
with source:
    sbom = scan_image(source, catalogers=default_catalogers())
print(json.dumps({"seconds": time.perf_counter() - start, "packages": len(sbom.packages)}))
"""


def child(*args: str) -> tuple[dict[str, float], int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([PYTHON, "-c", CHILD, *args], check=True, capture_output=True, text=True).stdout
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return json.loads(out), max(peak, before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not (LAYOUT / "index.json").exists():
        sys.exit("run bench/sbom.py first: it builds the large image under .bench/sbom/large")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = Path(tmp) / "config.yml"
        settings = {"version": 0.1, "log": {"level": "error", "accesslog": {"disabled": True}},
                    "storage": {"filesystem": {"rootdirectory": f"{tmp}/data"}},
                    "http": {"addr": f"127.0.0.1:{port}"}}
        config.write_text(json.dumps(settings))  # YAML is a superset of JSON
        proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        host = f"127.0.0.1:{port}"
        try:
            wait_until(lambda: subprocess.run(["curl", "-sf", f"http://{host}/v2/"],
                                              capture_output=True).returncode == 0, timeout=10)
            start = time.perf_counter()
            subprocess.run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
                            f"oci:{LAYOUT}:v1", f"docker://{host}/bench/large:v1"], check=True,
                           capture_output=True)
            print(f"push with skopeo: {time.perf_counter() - start:.2f} s")
            for mode, where in (("layout", f"oci-layout:{LAYOUT}:v1"), ("registry", host)):
                results = [child(mode, where) for _ in range(args.runs)]
                best = min(r[0]["seconds"] for r in results)
                peak_mb = max(r[1] for r in results) / 1024
                print(f"{mode:9} best of {args.runs}: {best:.2f} s, {results[0][0]['packages']} packages, "
                      f"peak RSS {peak_mb:.0f} MB")
        finally:
            stop_process(proc)


if __name__ == "__main__":
    main()
