"""The one platform type: specifiers, OCI platform objects, containerd's normalisation and matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbourmaster.domain import platform as platform_module
from harbourmaster.domain.platform import DEFAULT_PLATFORM, Platform, PlatformError, parse_platform
from harbourmaster.errors import BadInput


def test_public_names_are_pinned() -> None:
    assert set(platform_module.__all__) == {"DEFAULT_PLATFORM", "Platform", "PlatformError", "parse_platform"}
    assert issubclass(PlatformError, BadInput) and issubclass(PlatformError, ValueError)
    assert Platform(os="linux", architecture="amd64") == DEFAULT_PLATFORM


def test_every_layer_uses_the_domain_platform() -> None:
    from harbourmaster import registry
    from harbourmaster.registry import media
    from harbourmaster.supply import sbom

    assert registry.Platform is media.Platform is sbom.Platform is Platform


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform(os="linux", architecture="amd64")),
        ("linux/arm64/v8", Platform(os="linux", architecture="arm64", variant="v8")),
        ("linux/arm/v7", Platform(os="linux", architecture="arm", variant="v7")),
        ("windows(10.0.17763)/amd64", Platform(os="windows", architecture="amd64", os_version="10.0.17763")),
        ("Linux/x86_64", Platform(os="Linux", architecture="x86_64")),  # kept as written
    ],
)
def test_parse(text: str, expected: Platform) -> None:
    assert parse_platform(text) == expected
    assert str(parse_platform(text)) == text


@pytest.mark.parametrize(
    "text",
    ["linux", "amd64", "linux/", "/amd64", "linux//v7", "a/b/c/d", "", "linux/amd 64", "linux/amd64/v8/",
     "li(nux/amd64", "windows()/amd64", "lin.ux/amd64", "linux/am*d64", "linux/amd64\n", "x" * 300],
)
def test_bad_specifiers(text: str) -> None:
    with pytest.raises(PlatformError):
        parse_platform(text)


# (wanted, candidate, matches): containerd's normalisation and matcher.
MATCHES = [
    ("linux/arm64", "linux/arm64/v8", True),  # arm64's default variant is v8
    ("linux/arm64/v8", "linux/arm64", True),
    ("linux/arm64/v8", "linux/aarch64", True),
    ("linux/arm64", "linux/arm64/v9", False),
    ("linux/arm64/9.0", "linux/arm64/v9", True),
    ("linux/amd64", "linux/amd64/v1", True),  # amd64's default variant (v1) is no variant
    ("linux/amd64", "linux/x86_64", True),
    ("linux/amd64", "linux/x86-64", True),
    ("linux/amd64", "linux/amd64/v3", False),
    ("linux/amd64/v3", "linux/amd64", False),
    ("linux/arm", "linux/arm/v7", True),  # arm without a variant is v7
    ("linux/arm", "linux/armhf", True),
    ("linux/arm/v6", "linux/armel", True),
    ("linux/arm/v6", "linux/arm/v7", False),
    ("linux/386", "linux/i386", True),
    ("darwin/arm64", "macos/arm64", True),
    ("LINUX/AMD64", "linux/amd64", True),
    ("linux/amd64", "windows/amd64", False),
    ("linux/amd64", "linux/arm64", False),
    ("windows(10.0.17763)/amd64", "windows(10.0.17763.1879)/amd64", True),
    ("windows(10.0.17763)/amd64", "windows(10.0.20348)/amd64", False),
    ("windows(10.0.17763)/amd64", "windows/amd64", False),
    ("windows/amd64", "windows(10.0.17763)/amd64", True),
]


@pytest.mark.parametrize(("wanted", "candidate", "expected"), MATCHES)
def test_matching(wanted: str, candidate: str, expected: bool) -> None:
    assert parse_platform(wanted).matches(parse_platform(candidate)) is expected


def test_os_features_named_by_the_wanted_platform_must_be_the_candidates() -> None:
    want = Platform(os="windows", architecture="amd64", os_features=("win32k",))
    assert want.matches(Platform(os="windows", architecture="amd64", os_features=("win32k", "x")))
    assert not want.matches(Platform(os="windows", architecture="amd64"))
    assert Platform(os="windows", architecture="amd64").matches(want)


def test_oci_objects() -> None:
    obj = {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1879",
           "os.features": ["win32k"]}
    plat = Platform.from_oci(obj)
    assert plat == Platform(os="windows", architecture="amd64", os_version="10.0.17763.1879",
                            os_features=("win32k",))
    assert plat.to_oci() == obj
    assert Platform(os="linux", architecture="arm64", variant="v8").to_oci() == {
        "architecture": "arm64", "os": "linux", "variant": "v8"}
    for bad, words in [({"os": "linux"}, "index.platform.architecture must be a non-empty string"),
                       ({"os": "", "architecture": "amd64"}, "platform.os must be a non-empty string"),
                       ({"os": "linux", "architecture": "amd64", "variant": 7}, "variant"),
                       ({"os": "linux", "architecture": "amd64", "os.features": "x"}, "os.features"),
                       ({"os": "li/nux", "architecture": "amd64"}, "may only contain")]:
        with pytest.raises(PlatformError, match=words):
            Platform.from_oci(bad, where="index.platform")


def test_construction_refuses_what_could_not_be_written_back() -> None:
    for kwargs in [{"os": "linux", "architecture": "amd/64"}, {"os": "linux(1)", "architecture": "amd64"},
                   {"os": "linux", "architecture": "", "variant": "v7"},
                   {"os": "", "architecture": "amd64", "os_version": "1"},
                   {"os": "linux", "architecture": "amd64", "os_features": ["x"]}]:
        with pytest.raises(PlatformError):
            Platform(**kwargs)  # type: ignore[arg-type]


_component = st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True)
_os = st.one_of(st.sampled_from(["linux", "windows", "darwin", "macos", "freebsd", "Linux"]),
                st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True))
_arch = st.one_of(st.sampled_from(["amd64", "x86_64", "x86-64", "arm64", "aarch64", "arm", "armhf", "armel",
                                   "i386", "386", "s390x", "ppc64le", "riscv64"]), _component)
_variant = st.one_of(st.just(""), st.sampled_from(["v1", "v2", "v3", "5", "6", "7", "8", "v8", "v8.0", "9",
                                                   "9.0", "v9.0", "V8"]), _component)
_os_version = st.one_of(st.just(""), st.from_regex(r"[0-9]{1,3}(?:\.[0-9]{1,5}){0,3}", fullmatch=True))
_features = st.lists(st.from_regex(r"[A-Za-z0-9_.+-]{1,10}", fullmatch=True), max_size=3).map(tuple)
platforms = st.builds(lambda o, a, v, ov, f: Platform(os=o, architecture=a, variant=v, os_version=ov,
                                                       os_features=f),
                      _os, _arch, _variant, _os_version, _features)


@given(platforms)
def test_specifier_round_trip(plat: Platform) -> None:
    text = str(plat)
    parsed = parse_platform(text)
    assert parsed == Platform(os=plat.os, architecture=plat.architecture, variant=plat.variant,
                              os_version=plat.os_version)  # os.features have no place in a specifier
    assert str(parsed) == text


@given(platforms)
def test_oci_object_round_trip(plat: Platform) -> None:
    assert Platform.from_oci(plat.to_oci()) == plat


@given(platforms, platforms)
def test_normalisation_and_matching_laws(plat: Platform, other: Platform) -> None:
    normal = plat.normalized()
    assert normal.normalized() == normal  # idempotent
    assert plat.matches(plat) and plat.matches(normal) and normal.matches(plat)
    # Without os.version or os.features, matching is an equivalence on the normalised triple.
    a, b = plat.normalized(), other.normalized()
    bare_a = Platform(os=plat.os, architecture=plat.architecture, variant=plat.variant)
    bare_b = Platform(os=other.os, architecture=other.architecture, variant=other.variant)
    same = (a.os, a.architecture, a.variant) == (b.os, b.architecture, b.variant)
    assert bare_a.matches(bare_b) is same is bare_b.matches(bare_a)
    assert parse_platform(str(normal)).normalized() == Platform(
        os=a.os, architecture=a.architecture, variant=a.variant, os_version=a.os_version)
