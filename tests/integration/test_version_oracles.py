"""Differential tests: our version comparisons against the real tools of each ecosystem.

Oracles: ``dpkg --compare-versions`` (dpkg), ``rpm.vercmp`` through ``rpm --eval``
(rpm), the npm ``semver`` package run with node (npm), and Maven's own
``ComparableVersion`` from the Debian ``maven`` package (Maven).  Each oracle
answers a whole batch of pairs in one process.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harbourmaster.domain.versions import scheme_for
from tests.components import IN_CI, ensure_binary, unavailable

pytestmark = pytest.mark.integration

ORACLE_SETTINGS = settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=IN_CI
)


def _all_pairs(pool: list[str]) -> list[tuple[str, str]]:
    unique = list(dict.fromkeys(pool))
    return list(itertools.combinations(unique, 2)) + [(v, v) for v in unique[:3]]


def _assert_agrees(ecosystem: str, pairs: list[tuple[str, str]], oracle: list[int]) -> None:
    scheme = scheme_for(ecosystem)
    assert len(oracle) == len(pairs)
    mismatches = [
        (a, b, ours, theirs)
        for (a, b), theirs in zip(pairs, oracle, strict=True)
        if (ours := scheme.compare(a, b)) != theirs
    ]
    assert not mismatches, f"{ecosystem}: {len(mismatches)} disagreements, first: {mismatches[:5]}"


# --- dpkg -----------------------------------------------------------------------------------------

DPKG_TRICKY = [
    "1.0", "1.0-0", "1.0-1", "1:1.0", "0:1.0", "1.0~rc1", "1.0~~", "1.0~", "1.0a", "1.0+b1", "1.0.1",
    "1.0-0~1", "1.0-1~bpo1", "1.0-1+deb12u1", "2:0", "10:0.1", "1.00", "1.000.1", "1.0+dfsg-1",
    "1.0~rc1+dfsg-1", "0.9", "0.10", "1.2.3-4ubuntu0.1", "1.2.3-4ubuntu0.10", "1.2.3-4build1",
    "1.0-a", "1.0-+", "1.0-.", "1.0-~", "9", "1a", "1a~", "1.a", "1+", "1~a1", "1~a10", "1~a9b",
    "3.0.8-1~deb12u1", "3.0.8-1", "2.36-9+deb12u4", "2.36-9+deb12u10", "1:2.36-9", "1.0.0~git20230101.abc-1",
]

_dpkg_upstream = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from("0123456789"),
    st.text(alphabet="0019.+~~az", max_size=6),
)
_dpkg_version = st.builds(
    lambda epoch, upstream, revision: f"{epoch}{upstream}{revision}",
    st.sampled_from(["", "", "", "0:", "1:", "2:"]),
    _dpkg_upstream,
    st.one_of(st.just(""), st.text(alphabet="019.+~a", min_size=1, max_size=4).map(lambda r: "-" + r)),
)

_DPKG_LOOP = r"""
while read -r a b; do
  if dpkg --compare-versions "$a" lt "$b" 2>/dev/null; then echo -1
  elif dpkg --compare-versions "$a" eq "$b" 2>/dev/null; then echo 0
  else echo 1; fi
done
"""


def _dpkg_oracle(pairs: list[tuple[str, str]]) -> list[int]:
    ensure_binary("dpkg", "dpkg")
    feed = "".join(f"{a} {b}\n" for a, b in pairs)
    out = subprocess.run(["sh", "-c", _DPKG_LOOP], input=feed, capture_output=True, text=True,
                         check=True, timeout=120)
    return [int(line) for line in out.stdout.split()]


def test_dpkg_agrees_on_tricky_versions() -> None:
    pairs = _all_pairs(DPKG_TRICKY)
    _assert_agrees("Debian", pairs, _dpkg_oracle(pairs))


@ORACLE_SETTINGS
@given(st.lists(_dpkg_version, min_size=12, max_size=18))
def test_dpkg_agrees_on_generated_versions(pool: list[str]) -> None:
    scheme = scheme_for("deb")
    pool = [v for v in pool if scheme.is_valid(v)]
    pairs = _all_pairs(pool)
    _assert_agrees("Debian", pairs, _dpkg_oracle(pairs))


# --- rpm ------------------------------------------------------------------------------------------

RPM_TRICKY = [
    "1.0", "1.0~rc1", "1.0~rc1~1", "1.0^git1", "1.0^git1~1", "1.0^", "1.0~", "1.0.1", "1.0a", "1.0.a",
    "1_0", "1..0", "1.01", "1.001", "2:0.1", "0:1.0", "1.0-1", "1.0-1.el9", "1.0-1.el9_1", "1.0-2.el8",
    "1.0-1~beta", "1.0-1^post", "a", "b", "1a", "1A", "1.0+1", "1.0.0", "1.0^1.1", "1.0^~", "1.0~^",
]

_rpm_version = st.builds(
    lambda epoch, version, release: f"{epoch}{version}{release}",
    st.sampled_from(["", "", "", "1:"]),
    st.text(alphabet="0129.az~^_", min_size=1, max_size=6).filter(lambda v: ":" not in v),
    st.one_of(st.just(""), st.text(alphabet="019.a~^", min_size=1, max_size=4).map(lambda r: "-" + r)),
)


def _rpm_oracle(pairs: list[tuple[str, str]], tmp_path: Path) -> list[int]:
    ensure_binary("rpm", "rpm")
    data = tmp_path / "pairs.txt"
    data.write_text("".join(f"{a} {b}\n" for a, b in pairs))
    script = (
        "%{lua: for line in io.lines('" + str(data) + "') do "
        "local a, b = line:match('^(%S+) (%S+)$'); io.write(rpm.vercmp(a, b), '\\n') end}"
    )
    out = subprocess.run(["rpm", "--eval", script], capture_output=True, text=True, check=True, timeout=60)
    return [max(-1, min(1, int(line))) for line in out.stdout.split()]


def test_rpm_agrees_on_tricky_versions(tmp_path: Path) -> None:
    pairs = _all_pairs(RPM_TRICKY)
    _assert_agrees("Red Hat", pairs, _rpm_oracle(pairs, tmp_path))


@ORACLE_SETTINGS
@given(st.lists(_rpm_version, min_size=12, max_size=18))
def test_rpm_agrees_on_generated_versions(tmp_path_factory: pytest.TempPathFactory, pool: list[str]) -> None:
    scheme = scheme_for("rpm")
    pool = [v for v in pool if scheme.is_valid(v)]
    pairs = _all_pairs(pool)
    _assert_agrees("Red Hat", pairs, _rpm_oracle(pairs, tmp_path_factory.mktemp("rpm")))


# --- npm semver -----------------------------------------------------------------------------------

_NODE_COMPARE = """
const semver = require(process.argv[1]);
let input = '';
process.stdin.on('data', d => input += d);
process.stdin.on('end', () => {
  const {pairs, candidates} = JSON.parse(input);
  const compared = pairs.map(([a, b]) => semver.compare(a, b, true));
  const valid = candidates.map(v => semver.valid(v) !== null);
  process.stdout.write(JSON.stringify({compared, valid}));
});
"""


@pytest.fixture(scope="module")
def npm_semver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the npm ``semver`` package, installed once and cached between runs."""
    ensure_binary("node", "nodejs")
    ensure_binary("npm", "npm")
    cache_root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harbourmaster-oracles"
    target = cache_root / "npm-semver-7"
    package = target / "node_modules" / "semver"
    if not (package / "package.json").exists():
        staging = tmp_path_factory.mktemp("npm")
        result = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(staging), "semver@7"],
            capture_output=True, text=True, timeout=180, check=False,
        )
        if result.returncode != 0:
            unavailable(f"npm install semver failed: {result.stderr[-500:]}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(staging, target)
    return package


def _npm_oracle(package: Path, pairs: list[tuple[str, str]], candidates: list[str]) -> dict[str, list]:
    out = subprocess.run(
        ["node", "-e", _NODE_COMPARE, str(package)],
        input=json.dumps({"pairs": pairs, "candidates": candidates}),
        capture_output=True, text=True, check=True, timeout=60,
    )
    return json.loads(out.stdout)


NPM_TRICKY = [
    "1.0.0", "v1.0.0", "=1.0.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
    "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0+build", "1.0.0-rc.1+build.1", "2.0.0",
    "1.0.0-0", "1.0.0-00a", "1.0.0-a-b", "1.0.0--", "1.0.0-1.2.3", "1.0.0-1.2", "1.0.0-x.7.z.92",
    "10.20.30", "1.1.2-prerelease+meta", "1.0.0-alpha0.valid", "1.2.3-a.b.c.10.d.5", "0.0.4",
    "999999999999.0.0",
]

NPM_VALIDITY = [
    "1.2.3", "v1.2.3", "01.2.3", "1.02.3", "1.2", "1", "1.2.3-01", "1.2.3-0a", "1.2.3beta", "1.2.3-",
    "1.2.3+", "1.2.3-a..b", "1.2.3.4", "a.b.c", "1.2.3-alpha_1", "9007199254740991.0.0",
    "9007199254740992.0.0", "1.2.3+build.01",
]

_npm_version = st.builds(
    lambda prefix, core, pre, build: prefix + ".".join(map(str, core)) + pre + build,
    st.sampled_from(["", "", "v", "="]),
    st.tuples(*[st.integers(0, 3)] * 3),
    st.one_of(
        st.just(""),
        st.lists(st.sampled_from(["alpha", "beta", "rc", "0", "1", "2", "11", "x-y", "a1", "1a", "-"]),
                 min_size=1, max_size=3).map(lambda ids: "-" + ".".join(ids)),
    ),
    st.sampled_from(["", "", "+build.1", "+001"]),
)


def test_npm_semver_agrees_on_tricky_versions_and_validity(npm_semver: Path) -> None:
    pairs = _all_pairs(NPM_TRICKY)
    answer = _npm_oracle(npm_semver, pairs, NPM_VALIDITY)
    _assert_agrees("npm", pairs, answer["compared"])
    scheme = scheme_for("npm")
    assert [scheme.is_valid(v) for v in NPM_VALIDITY] == answer["valid"]


@ORACLE_SETTINGS
@given(pool=st.lists(_npm_version, min_size=15, max_size=25))
def test_npm_semver_agrees_on_generated_versions(npm_semver: Path, pool: list[str]) -> None:
    pairs = _all_pairs(pool)
    _assert_agrees("npm", pairs, _npm_oracle(npm_semver, pairs, [])["compared"])


# --- Maven ----------------------------------------------------------------------------------------

MAVEN_JAR = Path("/usr/share/java/maven3-artifact.jar")

MAVEN_TRICKY = [
    "1", "1.0", "1.0.0", "1-0", "1.ga", "1-ga", "1-final", "1-release", "1-sp", "1-sp1", "1-sp.1",
    "1-sp-1", "1-ga-1", "1-1", "1.1", "1-snapshot", "1-SNAPSHOT", "1.0-SNAPSHOT", "1-alpha", "1-a1",
    "1-alpha-1", "1-alpha1", "1-b1", "1-beta-2", "1-m1", "1-milestone-1", "1-rc1", "1-cr1", "1-rc-1",
    "1-foo", "1.foo", "1-foo2", "1-foo10", "1.0.alpha", "1.0.0.RC1", "1.0.0-RC2", "1.alpha.2",
    "1..2", "1--1", "1-0.1", "1.0.0.0.1", "2.0.0.Final", "2.0.0.Beta1", "5.3.20", "5.3.20.RELEASE",
    "1.0-jre", "1.0-android", "31.1-jre", "31.1-android", "1.0x", "1x", "a1b2", "1.0.0-alpha.beta",
    "0.0.1", "1.12345678901", "1.12345678901234567890",
]

_maven_token = st.sampled_from(
    ["0", "1", "2", "10", "01", "alpha", "a", "beta", "b", "m", "milestone", "rc", "cr", "snapshot",
     "SNAPSHOT", "ga", "final", "release", "sp", "foo", "x", "jre"]
)
_maven_version = st.builds(
    lambda first, rest: first + "".join(sep + token for sep, token in rest),
    st.sampled_from(["0", "1", "2", "10"]),
    st.lists(st.tuples(st.sampled_from([".", "-", ""]), _maven_token), max_size=4),
)


def _maven_oracle(pairs: list[tuple[str, str]]) -> list[int]:
    ensure_binary("java", "default-jre-headless")
    if not MAVEN_JAR.exists():
        ensure_binary("mvn", "maven")
    if not MAVEN_JAR.exists():
        unavailable(f"{MAVEN_JAR} (Debian package libmaven3-core-java) is not installed")
    args = [v for pair in pairs for v in pair]
    out = subprocess.run(
        ["java", "-cp", str(MAVEN_JAR), "org.apache.maven.artifact.versioning.ComparableVersion", *args],
        capture_output=True, text=True, check=True, timeout=120,
    )
    # Maven prints "   PREV OP NEXT" for each adjacent pair of arguments; keep those of our pairs.
    ops = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("   ")]
    return [{"<": -1, "==": 0, ">": 1}[op] for op in ops[::2]]


def test_maven_agrees_on_tricky_versions() -> None:
    pairs = _all_pairs(MAVEN_TRICKY)
    _assert_agrees("Maven", pairs, _maven_oracle(pairs))


@ORACLE_SETTINGS
@given(st.lists(_maven_version, min_size=12, max_size=20))
def test_maven_agrees_on_generated_versions(pool: list[str]) -> None:
    pairs = _all_pairs(pool)
    _assert_agrees("Maven", pairs, _maven_oracle(pairs))
