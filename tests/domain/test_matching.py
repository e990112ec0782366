from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.domain import matching
from harbourmaster.domain.matching import (
    LocationError,
    RegistryIndex,
    RegistryLocation,
    canonical_host,
    location_matches,
    parse_registry_location,
)
from harbourmaster.domain.reference import ImageReference, ReferenceError, parse_reference
from harbourmaster.errors import BadInput


def test_public_names_are_pinned() -> None:
    assert set(matching.__all__) == {
        "DOCKER_HUB_ALIASES",
        "LocationError",
        "RegistryIndex",
        "RegistryLocation",
        "canonical_host",
        "location_matches",
        "parse_registry_location",
    }
    assert issubclass(LocationError, BadInput)


# --- parse_registry_location ---------------------------------------------------

@pytest.mark.parametrize(
    ("url", "scope", "expected"),
    [
        ("https://harbor.corp", None, RegistryLocation("harbor.corp", (), "https")),
        ("https://harbor.corp/", None, RegistryLocation("harbor.corp", (), "https")),
        ("HTTPS://Harbor.CORP", None, RegistryLocation("harbor.corp", (), "https")),
        ("http://127.0.0.1:5000", None, RegistryLocation("127.0.0.1:5000", (), "http")),
        ("https://harbor.corp:443", None, RegistryLocation("harbor.corp:443", (), "https")),
        ("https://harbor.corp:8443", "team/sub",
         RegistryLocation("harbor.corp:8443", ("team", "sub"), "https")),
        ("https://harbor.corp", "payments", RegistryLocation("harbor.corp", ("payments",), "https")),
        ("https://harbor.corp", "/payments/", RegistryLocation("harbor.corp", ("payments",), "https")),
        ("https://harbor.corp", "", RegistryLocation("harbor.corp", (), "https")),
        ("https://harbor.corp", "/", RegistryLocation("harbor.corp", (), "https")),
        ("https://harbor.corp", "a.b/c__d/e-f",
         RegistryLocation("harbor.corp", ("a.b", "c__d", "e-f"), "https")),
        ("https://[::1]:5000", None, RegistryLocation("[::1]:5000", (), "https")),
        ("https://[FE80::1]", None, RegistryLocation("[fe80::1]", (), "https")),
        ("https://localhost", None, RegistryLocation("localhost", (), "https")),
        ("https://index.docker.io", None, RegistryLocation("docker.io", (), "https")),
        ("https://registry-1.docker.io", "library", RegistryLocation("docker.io", ("library",), "https")),
        ("https://registry.hub.docker.com", None, RegistryLocation("docker.io", (), "https")),
        ("https://docker.io", None, RegistryLocation("docker.io", (), "https")),
        # With a port it is no longer Docker Hub's alias; hosts compare literally.
        ("https://index.docker.io:443", None, RegistryLocation("index.docker.io:443", (), "https")),
        ("https://harbor.corp:65535", None, RegistryLocation("harbor.corp:65535", (), "https")),
        ("https://registry:5000", None, RegistryLocation("registry:5000", (), "https")),
    ],
)
def test_valid_locations(url: str, scope: str | None, expected: RegistryLocation) -> None:
    assert parse_registry_location(url, scope) == expected


@pytest.mark.parametrize(
    ("url", "scope", "words"),
    [
        ("ftp://harbor.corp", None, "scheme must be https or http"),
        ("harbor.corp", None, "must start with https:// or http://"),
        ("https://", None, "host is empty"),
        ("https://:5000", None, "host is empty"),
        ("https://harbor.corp/payments", None, "give the repository prefix 'payments' as the scope"),
        ("https://harbor.corp/v2/", None, "no path"),
        ("https://harbor.corp?x=1", None, "no query or fragment"),
        ("https://harbor.corp/#frag", None, "no query or fragment"),
        ("https://harbor.corp.", None, "trailing '.'"),
        ("https://harbor.corp.:443", None, "trailing '.'"),
        ("https://harbor.corp:0", None, "port '0' must be a number from 1 to 65535"),
        ("https://harbor.corp:65536", None, "port '65536'"),
        ("https://harbor.corp:0443", None, "port '0443'"),
        ("https://harbor.corp:", None, "port ''"),
        ("https://harbor.corp:x", None, "port 'x'"),
        ("https://harbor_corp.io", None, "host 'harbor_corp.io'"),
        ("https://-harbor.corp", None, "host '-harbor.corp'"),
        ("https://harbor..corp", None, "host 'harbor..corp'"),
        ("https://[::1", None, "no closing ']'"),
        ("https://[::1]x", None, "unexpected 'x'"),
        ("https://[zz::1]", None, "not a bracketed IPv6 address"),
        ("https://registry", None, "no '.' and no port"),
        (" https://harbor.corp", None, "whitespace"),
        ("https://harbor .corp", None, "whitespace"),
        ("https://harbor.corp\n", None, "whitespace"),
        ("https://harbor.corp", "Payments", "segment 'Payments'"),
        ("https://harbor.corp", "a//b", "empty path segment"),
        ("https://harbor.corp", "//", "empty path segment"),
        ("https://harbor.corp", "-a", "segment '-a'"),
        ("https://harbor.corp", "a b", "segment 'a b'"),
    ],
)
def test_invalid_locations(url: str, scope: str | None, words: str) -> None:
    with pytest.raises(LocationError) as caught:
        parse_registry_location(url, scope)
    assert words in str(caught.value)


def test_errors_name_the_field() -> None:
    with pytest.raises(LocationError, match=r"^registries\[3\]\.url 'ftp://x.io'"):
        parse_registry_location("ftp://x.io", field="registries[3].url")
    with pytest.raises(LocationError, match=r"scope of registries\[3\]\.url 'A'"):
        parse_registry_location("https://x.io", "A", field="registries[3].url")
    with pytest.raises(LocationError, match="must be a string"):
        parse_registry_location(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "https://user:hunter2secret@harbor.corp",
        "https://hunter2secret@harbor.corp",
        "https://user:hunter2secret@harbor.corp/path",
        "https://user:hunter2/secret@harbor.corp",  # a '/' in the password
        "https://user:hunter2?secret@harbor.corp",
        "https://user:hunter2#secret@harbor.corp",
        "ftp://user:hunter2secret@harbor.corp",
        "user:hunter2secret@harbor.corp",
        "user:hunter2secret@x://harbor.corp",
        "https://user:hunter2 secret@harbor.corp",
        "https://user:hunter2secret@harbor.corp:99999",
    ],
)
def test_userinfo_is_refused_without_echoing_the_password(url: str) -> None:
    with pytest.raises(LocationError) as caught:
        parse_registry_location(url)
    error = caught.value
    for text in (str(error), repr(error), error.diagnostics()):
        assert "hunter2" not in text
        assert "secret" not in text


# --- location_matches -----------------------------------------------------------

def _loc(url: str, scope: str | None = None) -> RegistryLocation:
    return parse_registry_location(url, scope)


@pytest.mark.parametrize(
    ("url", "scope", "ref", "expected"),
    [
        ("https://harbor.corp", None, "harbor.corp/x", True),
        ("https://harbor.corp", None, "harbor.corp/a/b/c:v1", True),
        ("https://harbor.corp", None, "HARBOR.CORP/x", True),
        ("https://HARBOR.corp", None, "harbor.corp/x", True),
        ("https://harbor.corp", None, "harbor.corp.evil.io/x", False),
        ("https://harbor.corp", None, "evilharbor.corp/x", False),
        ("https://harbor.corp", None, "harbor.corp:8443/x", False),
        ("https://harbor.corp", None, "harbor.corp:443/x", False),
        ("https://harbor.corp:443", None, "harbor.corp/x", False),
        ("https://harbor.corp:443", None, "harbor.corp:443/x", True),
        ("https://harbor.corp", None, "harbor/x", False),  # docker.io/harbor/x
        ("https://harbor.corp", None, "docker.io/harbor.corp/x", False),
        ("https://harbor.corp", "payments", "harbor.corp/payments/api:v1", True),
        ("https://harbor.corp", "payments", "harbor.corp/payments", True),
        ("https://harbor.corp", "payments", "harbor.corp/payments-evil/x", False),
        ("https://harbor.corp", "payments", "harbor.corp/payments.evil/x", False),
        ("https://harbor.corp", "payments", "harbor.corp/paymentsx", False),
        ("https://harbor.corp", "payments", "harbor.corp/pay/ments", False),
        ("https://harbor.corp", "payments", "harbor.corp/x/payments", False),
        ("https://harbor.corp", "team/sub", "harbor.corp/team/sub/app", True),
        ("https://harbor.corp", "team/sub", "harbor.corp/team/sub", True),
        ("https://harbor.corp", "team/sub", "harbor.corp/team/subway/app", False),
        ("https://harbor.corp", "team/sub", "harbor.corp/team/app", False),
        ("https://harbor.corp", "team/sub", "harbor.corp/team", False),
        ("https://index.docker.io", None, "nginx", True),
        ("https://registry-1.docker.io", None, "team/app", True),
        ("https://docker.io", None, "registry-1.docker.io/library/nginx", True),
        ("https://docker.io", None, "index.docker.io/library/nginx", True),
        ("https://docker.io", "library", "nginx:1.25", True),
        ("https://docker.io", "library", "team/nginx", False),
        ("https://docker.io", None, "harbor.corp/nginx", False),
        ("http://127.0.0.1:5000", None, "127.0.0.1:5000/team/app", True),
        ("http://127.0.0.1:5000", None, "127.0.0.1/team/app", False),
        ("http://localhost:5000", None, "localhost:5000/a", True),
        ("http://localhost:5000", None, "localhost/a", False),
        ("http://localhost:5000", None, "localhost:5000", False),  # docker.io/library/localhost:5000
        ("https://[::1]:5000", None, "[::1]:5000/foo", True),
        ("https://[::1]:5000", None, "[::1]/foo", False),
        ("https://[fe80::1]", None, "[FE80::1]/foo", True),
    ],
)
def test_location_matches(url: str, scope: str | None, ref: str, expected: bool) -> None:
    assert location_matches(_loc(url, scope), parse_reference(ref)) is expected


def test_lookalike_reference_text_is_not_a_way_in() -> None:
    # "harbor.corp@evil.io/x" is not a reference at all: '@' starts a digest.
    with pytest.raises(ReferenceError):
        parse_reference("harbor.corp@evil.io/x")
    with pytest.raises(ReferenceError):
        parse_reference("harbor.corp/../evil/x")
    with pytest.raises(ReferenceError):
        parse_reference("harbor.corp\\evil.io/x")


def test_canonical_host() -> None:
    assert canonical_host("Registry-1.Docker.IO") == "docker.io"
    assert canonical_host("Harbor.Corp:8443") == "harbor.corp:8443"


# A scope matches a path iff it is a prefix by whole segments: the oracle here is
# plain list comparison, independent of the tuple slicing the module uses.
_segment = st.sampled_from(["a", "b", "ab", "a-b", "a.b", "a_b", "b-a", "abc"])


@given(st.lists(_segment, max_size=4), st.lists(_segment, min_size=1, max_size=5))
@settings(max_examples=500)
def test_scope_matches_iff_segment_prefix(scope: list[str], path: list[str]) -> None:
    location = RegistryLocation("harbor.corp", tuple(scope), "https")
    ref = parse_reference("harbor.corp/" + "/".join(path))
    is_prefix = len(scope) <= len(path) and all(s == p for s, p in zip(scope, path, strict=False))
    assert location_matches(location, ref) is is_prefix
    index = RegistryIndex([("r", location)])
    assert (index.lookup(ref) == "r") is is_prefix
    # Never a string-prefix match: a scope that is a string prefix but not a
    # segment prefix must not match.
    if not is_prefix and "/".join(path).startswith("/".join(scope)):
        assert not location_matches(location, ref)


# --- RegistryIndex ------------------------------------------------------------

def _index() -> RegistryIndex[str]:
    return RegistryIndex(_entries())


@pytest.mark.parametrize(
    ("ref", "most_specific", "all_keys"),
    [
        ("harbor.corp/payments/api/v2:1", "harbor-payments-api",
         ["harbor-payments-api", "harbor-payments", "harbor-payments-mirror", "harbor-all"]),
        ("harbor.corp/payments/web", "harbor-payments",
         ["harbor-payments", "harbor-payments-mirror", "harbor-all"]),
        ("harbor.corp/payments-evil/api", "harbor-all", ["harbor-all"]),
        ("harbor.corp/payments", "harbor-payments",
         ["harbor-payments", "harbor-payments-mirror", "harbor-all"]),
        ("nginx", "hub-library", ["hub-library", "hub"]),
        ("team/app", "hub", ["hub"]),
        ("127.0.0.1:5000/x", "local", ["local"]),
        ("127.0.0.1:5001/x", None, []),
        ("harbor.corp.evil.io/payments/api", None, []),
        ("harbor.corp:8443/payments", None, []),
    ],
)
def test_index_lookup(ref: str, most_specific: str | None, all_keys: list[str]) -> None:
    index = _index()
    parsed = parse_reference(ref)
    assert index.lookup(parsed) == most_specific
    assert index.lookup_all(parsed) == all_keys
    # The index agrees with the one-by-one matcher.
    assert sorted(index.lookup_all(parsed)) == sorted(
        k for k, loc in _entries() if location_matches(loc, parsed)
    )


def _entries() -> list[tuple[str, RegistryLocation]]:
    return [
        ("harbor-all", _loc("https://harbor.corp")),
        ("harbor-payments", _loc("https://harbor.corp", "payments")),
        ("harbor-payments-api", _loc("https://harbor.corp", "payments/api")),
        ("harbor-payments-mirror", _loc("https://harbor.corp", "payments")),
        ("hub", _loc("https://index.docker.io")),
        ("hub-library", _loc("https://docker.io", "library")),
        ("local", _loc("http://127.0.0.1:5000")),
    ]


def test_index_len_and_empty() -> None:
    assert len(_index()) == 7
    empty: RegistryIndex[int] = RegistryIndex([])
    assert len(empty) == 0
    assert empty.lookup(parse_reference("nginx")) is None
    assert empty.lookup_all(parse_reference("nginx")) == []


def test_index_with_a_thousand_registries_is_fast_and_right() -> None:
    entries: list[tuple[int, RegistryLocation]] = []
    for i in range(1000):
        host = f"r{i % 50}.corp"
        scope = f"team{i}" if i % 3 else f"team{i}/sub"
        entries.append((i, RegistryLocation(host, tuple(scope.split("/")), "https")))
    index = RegistryIndex(entries)
    refs = [
        parse_reference(f"r{i % 50}.corp/" + "/".join(loc.scope) + "/app:v1")
        for i, (_, loc) in enumerate(entries)
    ]
    for i, ref in enumerate(refs):
        assert index.lookup(ref) == i
    misses = [ImageReference(domain=f"r{i % 50}.corp", path=f"team{i}x/app") for i in range(1000)]
    assert all(index.lookup(m) is None for m in misses)

    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        for ref in refs:
            index.lookup(ref)
    per_lookup = (time.perf_counter() - start) / (rounds * len(refs))
    # A few µs on this machine; the bound is loose so a busy CI host passes.
    assert per_lookup < 50e-6, per_lookup
