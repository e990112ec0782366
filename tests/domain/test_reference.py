from __future__ import annotations

import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harbourmaster.domain import reference
from harbourmaster.domain.reference import ImageReference, ReferenceError, normalize, parse_reference
from harbourmaster.errors import BadInput
from tests.components import ensure_binary

SHA256 = "sha256:" + "a" * 64
SHA384 = "sha384:" + "b" * 96
SHA512 = "sha512:" + "c" * 128


def test_public_names_are_pinned() -> None:
    assert set(reference.__all__) == {
        "DEFAULT_DOMAIN",
        "DEFAULT_TAG",
        "NAME_MAX_LENGTH",
        "TAG_MAX_LENGTH",
        "TAG_PATTERN",
        "ImageReference",
        "ReferenceError",
        "normalize",
        "parse_reference",
        "validate_tag",
    }
    assert issubclass(ReferenceError, BadInput)


# (text, normalized, domain, path, tag, digest)
VALID = [
    ("nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx", None, None),
    ("nginx:1.25", "docker.io/library/nginx:1.25", "docker.io", "library/nginx", "1.25", None),
    ("library/nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx", None, None),
    ("docker.io/nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx", None, None),
    ("docker.io/library/nginx:x", "docker.io/library/nginx:x", "docker.io", "library/nginx", "x", None),
    ("index.docker.io/nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx", None, None),
    ("index.docker.io/a/b", "docker.io/a/b:latest", "docker.io", "a/b", None, None),
    ("INDEX.DOCKER.IO/nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx", None, None),
    # Docker Hub's API host and its other alias are Docker Hub too (issue 8: the reference
    # library keeps them literally, which over-denied registry-1.docker.io/nginx).
    ("registry-1.docker.io/a/b", "docker.io/a/b:latest", "docker.io", "a/b", None, None),
    ("registry-1.docker.io/nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx",
     None, None),
    ("Registry-1.Docker.IO/nginx:1.27", "docker.io/library/nginx:1.27", "docker.io", "library/nginx",
     "1.27", None),
    (f"registry-1.docker.io/nginx@{SHA256}", f"docker.io/library/nginx@{SHA256}", "docker.io",
     "library/nginx", None, SHA256),
    ("registry.hub.docker.com/nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx",
     None, None),
    ("registry.hub.docker.com/team/app:v1", "docker.io/team/app:v1", "docker.io", "team/app", "v1", None),
    # With a port the host is kept as written (matching does the same).
    ("registry-1.docker.io:443/nginx", "registry-1.docker.io:443/nginx:latest", "registry-1.docker.io:443",
     "nginx", None, None),
    ("team/app", "docker.io/team/app:latest", "docker.io", "team/app", None, None),
    ("team/sub/app:v1", "docker.io/team/sub/app:v1", "docker.io", "team/sub/app", "v1", None),
    ("harbor.corp/team/app", "harbor.corp/team/app:latest", "harbor.corp", "team/app", None, None),
    ("harbor.corp/app", "harbor.corp/app:latest", "harbor.corp", "app", None, None),
    ("Harbor.Corp/app", "harbor.corp/app:latest", "harbor.corp", "app", None, None),
    ("harbor.corp:8443/app:v1", "harbor.corp:8443/app:v1", "harbor.corp:8443", "app", "v1", None),
    ("harbor.corp:443/app", "harbor.corp:443/app:latest", "harbor.corp:443", "app", None, None),
    ("localhost/app", "localhost/app:latest", "localhost", "app", None, None),
    ("localhost:5000/a/b", "localhost:5000/a/b:latest", "localhost:5000", "a/b", None, None),
    ("localhost:5000", "docker.io/library/localhost:5000", "docker.io", "library/localhost", "5000", None),
    ("localhost", "docker.io/library/localhost:latest", "docker.io", "library/localhost", None, None),
    ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000", "x", None, None),
    ("[::1]:5000/foo", "[::1]:5000/foo:latest", "[::1]:5000", "foo", None, None),
    ("[::1]/foo:v2", "[::1]/foo:v2", "[::1]", "foo", "v2", None),
    ("[2001:DB8::1]:80/a", "[2001:db8::1]:80/a:latest", "[2001:db8::1]:80", "a", None, None),
    ("myhost:5000/x", "myhost:5000/x:latest", "myhost:5000", "x", None, None),
    ("a.b/c", "a.b/c:latest", "a.b", "c", None, None),
    ("x-y.z-w.io/a", "x-y.z-w.io/a:latest", "x-y.z-w.io", "a", None, None),
    ("foo:99999/bar", "foo:99999/bar:latest", "foo:99999", "bar", None, None),
    ("a__b/c", "docker.io/a__b/c:latest", "docker.io", "a__b/c", None, None),
    ("a_b-c/e.f", "docker.io/a_b-c/e.f:latest", "docker.io", "a_b-c/e.f", None, None),
    ("a-----b", "docker.io/library/a-----b:latest", "docker.io", "library/a-----b", None, None),
    ("a.b.c/d.e_f-g", "a.b.c/d.e_f-g:latest", "a.b.c", "d.e_f-g", None, None),
    ("app:TAG_with.Mixed-case", "docker.io/library/app:TAG_with.Mixed-case", "docker.io", "library/app",
     "TAG_with.Mixed-case", None),
    ("app:_x", "docker.io/library/app:_x", "docker.io", "library/app", "_x", None),
    ("app:" + "t" * 128, "docker.io/library/app:" + "t" * 128, "docker.io", "library/app", "t" * 128, None),
    (f"app@{SHA256}", f"docker.io/library/app@{SHA256}", "docker.io", "library/app", None, SHA256),
    (f"app:v1@{SHA256}", f"docker.io/library/app:v1@{SHA256}", "docker.io", "library/app", "v1", SHA256),
    (f"h.io/a@{SHA512}", f"h.io/a@{SHA512}", "h.io", "a", None, SHA512),
    # A host alone is not a reference to it: no '/', so this is a Docker Hub name.
    ("harbor.corp", "docker.io/library/harbor.corp:latest", "docker.io", "library/harbor.corp", None, None),
    ("a" * 63, "docker.io/library/" + "a" * 63 + ":latest", "docker.io", "library/" + "a" * 63, None, None),
]


@pytest.mark.parametrize(("text", "normalized", "domain", "path", "tag", "digest"), VALID)
def test_valid_references(
    text: str, normalized: str, domain: str, path: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert ref.normalized == normalized
    assert str(ref) == normalized
    assert normalize(text) == normalized
    again = parse_reference(normalized)
    assert again.normalized == normalized
    assert (again.domain, again.path, again.digest) == (domain, path, digest)
    # The implied tag is written out, never invented on the value itself.
    assert again.tag == (tag if tag is not None or digest is not None else "latest")


# (text, words the message must contain)
INVALID = [
    ("", "empty"),
    (" nginx", "whitespace"),
    ("nginx ", "whitespace"),
    ("nginx\n", "whitespace"),
    ("ngi nx", "invalid character ' ' at position 3"),
    ("nginx:é", "invalid character 'é' at position 6"),
    ("ngin\x00x", "invalid character '\\x00' at position 4"),
    ("Nginx", "must be lower-case"),
    ("team/App", "must be lower-case"),
    ("harbor.corp/Team/app", "must be lower-case"),
    ("Foo/bar", "upper-case"),
    ("LOCALHOST/bar", "upper-case"),
    ("a" * 64, "image ID"),
    ("-nginx", "component '-nginx'"),
    ("nginx-", "component 'nginx-'"),
    ("a..b", "component 'a..b'"),
    ("a___b", "component 'a___b'"),
    ("a/-b", "component '-b'"),
    ("a//b", "empty component"),
    ("a/", "empty component"),
    ("/a", "empty component"),
    ("harbor.corp/", "path is empty"),
    ("nginx:", "tag after ':' is empty"),
    ("nginx:.x", "tag '.x'"),
    ("nginx:-x", "tag '-x'"),
    ("nginx:a:b", "tag 'a:b'"),
    ("nginx:" + "t" * 129, "129 characters; the limit is 128"),
    ("nginx@", "digest ''"),
    ("nginx@sha256:abc", "digest 'sha256:abc'"),
    ("nginx@sha256:" + "a" * 63, "64 hex digits, not 63"),
    ("nginx@sha256:" + "a" * 65, "64 hex digits, not 65"),
    ("nginx@sha256:" + "A" * 64, "lower-case hex"),
    ("nginx@sha512:" + "a" * 64, "128 hex digits, not 64"),
    ("nginx@md5:" + "a" * 32, "not supported"),
    # The OCI grammar's algorithm is lower-case: this is not a digest at all.
    ("nginx@SHA256:" + "a" * 64, "not 'algorithm:encoded'"),
    ("nginx@256:" + "a" * 64, "digest '256:"),
    ("nginx@sha256:" + "g" * 64, "lower-case hex digits"),
    ("nginx@" + "a" * 64, "algorithm:encoded"),
    # sha384 is grammatical but not registered by the OCI image spec (domain/digest.py).
    (f"h.io/a@{SHA384}", "'sha384' is not supported (the OCI image spec registers sha256 and sha512)"),
    ("a@b@" + SHA256, "digest 'b@"),
    ("a_b.c/d", "registry host 'a_b.c'"),
    ("a.b./c", "registry host 'a.b.'"),
    ("-a.b/c", "registry host '-a.b'"),
    ("a-.b/c", "registry host 'a-.b'"),
    ("foo:/bar", "port '' is not a number"),
    ("foo:bar/baz", "port 'bar' is not a number"),
    ("foo:5000:1/bar", "port '5000:1'"),
    ("nginx:1.2/foo", "port '1.2'"),
    ("[::1/foo", "registry host"),
    ("[::1]x/foo", "unexpected 'x'"),
    ("[::g]/foo", "registry host '[::g]'"),
    ("[]/foo", "component '[]'"),  # no '.' or ':', so not a host: a bad path
    ("h.io/a+b", "component 'a+b'"),
    ("x/" + "a" * 250, "the limit is 255"),
    ("h.io/" + "a" * 251, "256 characters; the limit is 255"),
    ("a" * 238, "256 characters; the limit is 255"),
    ("a" * 700, "longer than any valid reference"),
]


@pytest.mark.parametrize(("text", "words"), INVALID)
def test_invalid_references(text: str, words: str) -> None:
    with pytest.raises(ReferenceError) as caught:
        parse_reference(text)
    message = str(caught.value)
    assert words in message
    if len(text) < 100:
        assert repr(text) in message


def test_every_docker_hub_alias_of_matching_normalises_to_docker_hub() -> None:
    """Parsing and matching agree on which hosts are Docker Hub."""
    from harbourmaster.domain.matching import DOCKER_HUB_ALIASES

    for alias in DOCKER_HUB_ALIASES:
        ref = parse_reference(f"{alias}/nginx")
        assert (ref.domain, ref.path, ref.familiar) == ("docker.io", "library/nginx", "nginx:latest")


def test_name_limit_counts_the_normalised_name() -> None:
    # 237 + len("docker.io/library/") == 255: the implied prefix counts.
    assert len(parse_reference("a" * 237).repository) == 255
    assert parse_reference("h.io/" + "a" * 250).repository == "h.io/" + "a" * 250
    # index.docker.io is shortened before the limit applies, as the library does.
    long_path = "team/" + "a" * 240
    assert len(parse_reference("index.docker.io/" + long_path).repository) == 255
    assert len(parse_reference("registry.hub.docker.com/" + long_path).repository) == 255


def test_not_a_string_is_a_reference_error() -> None:
    with pytest.raises(ReferenceError, match="must be a string, not int"):
        parse_reference(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "familiar"),
    [
        ("nginx", "nginx:latest"),
        ("docker.io/library/nginx:1", "nginx:1"),
        ("library/a/b", "library/a/b:latest"),
        ("team/app:v1", "team/app:v1"),
        (f"nginx@{SHA256}", f"nginx@{SHA256}"),
        (f"nginx:1@{SHA256}", f"nginx:1@{SHA256}"),
        ("harbor.corp/a:v1", "harbor.corp/a:v1"),
        ("localhost:5000/a", "localhost:5000/a:latest"),
        # Dropping docker.io here would turn the first component into a host.
        ("docker.io/a.b/c", "docker.io/a.b/c:latest"),
        ("docker.io/localhost/c", "docker.io/localhost/c:latest"),
        ("docker.io/library/a.b", "a.b:latest"),
    ],
)
def test_familiar_form(text: str, familiar: str) -> None:
    assert parse_reference(text).familiar == familiar
    # The familiar form means the same image.
    assert parse_reference(familiar).normalized == parse_reference(text).normalized


@pytest.mark.parametrize(
    ("text", "host", "port", "segments"),
    [
        ("nginx", "docker.io", None, ("library", "nginx")),
        ("harbor.corp:8443/a/b/c", "harbor.corp", 8443, ("a", "b", "c")),
        ("[::1]:5000/foo", "[::1]", 5000, ("foo",)),
        ("[fe80::1]/foo", "[fe80::1]", None, ("foo",)),
        ("localhost/x", "localhost", None, ("x",)),
    ],
)
def test_host_port_and_segments(text: str, host: str, port: int | None, segments: tuple[str, ...]) -> None:
    ref = parse_reference(text)
    assert (ref.host, ref.port, ref.path_segments) == (host, port, segments)


def test_reference_is_a_frozen_value() -> None:
    ref = parse_reference("harbor.corp/a:v1")
    assert ref == ImageReference(domain="harbor.corp", path="a", tag="v1")
    assert hash(ref) == hash(ImageReference(domain="harbor.corp", path="a", tag="v1"))
    with pytest.raises(AttributeError):
        ref.tag = "v2"  # type: ignore[misc]


# --- properties --------------------------------------------------------------

_component = st.from_regex(r"[a-z0-9]{1,6}(?:(?:[._]|__|-{1,3})[a-z0-9]{1,6}){0,2}", fullmatch=True)
_domain = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            "docker.io/",
            "index.docker.io/",
            "registry-1.docker.io/",
            "registry.hub.docker.com/",
            "localhost/",
            "localhost:5000/",
            "[::1]:80/",
        ]
    ),
    st.from_regex(r"[a-zA-Z0-9]{1,5}(?:\.[a-zA-Z0-9]{1,5}){1,2}(?::[0-9]{1,5})?/", fullmatch=True),
)
_tag = st.one_of(st.just(""), st.from_regex(r":[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True))
_digest = st.one_of(
    st.just(""),
    st.from_regex(r"@sha256:[a-f0-9]{64}", fullmatch=True),
    st.from_regex(r"@sha512:[a-f0-9]{128}", fullmatch=True),
)
_grammatical = st.builds(
    lambda d, path, t, g: d + "/".join(path) + t + g,
    _domain,
    st.lists(_component, min_size=1, max_size=4),
    _tag,
    _digest,
)


@given(_grammatical)
@settings(max_examples=400)
def test_grammatical_references_parse_and_normalising_is_idempotent(text: str) -> None:
    first = text.partition("/")[0]
    # A first component with '.' that is not a valid host is a documented refusal.
    assume(not ("/" in text and "." in first and "_" in first))
    ref = parse_reference(text)
    again = parse_reference(ref.normalized)
    assert again.normalized == ref.normalized
    assert (again.repository, again.digest) == (ref.repository, ref.digest)
    assert parse_reference(ref.familiar) == again


_alphabet = st.sampled_from([*"aZ09._-/:@[]+ é\n", "sha256:", "docker.io/", "localhost", "a" * 64])


@given(st.one_of(st.text(), st.lists(_alphabet, max_size=12).map("".join)))
@settings(max_examples=600)
def test_arbitrary_text_parses_or_raises_reference_error(text: str) -> None:
    try:
        ref = parse_reference(text)
    except ReferenceError as exc:
        assert str(exc)
        return
    assert parse_reference(ref.normalized).normalized == ref.normalized


# --- differential test against skopeo (containers/image's reference parser) --

_STORAGE_REF = re.compile(r'reference \\?"\[[^\]]*\](?P<ref>[^"\\]*)\\?" does not resolve')
_PARSE_FAILURE = re.compile(r"invalid reference format|must be lowercase|cannot specify 64-byte|"
                            r"does not look like an image ID or digest|repository name must|"
                            r"invalid|unsupported")


@pytest.fixture(scope="module")
def skopeo_parse(tmp_path_factory: pytest.TempPathFactory):
    """Parse references with skopeo's containers-storage transport, in a private empty store.

    Its error for a well-formed but absent image quotes the normalised
    reference; a malformed one fails in the parser.  Nothing is pulled.
    """
    skopeo = ensure_binary("skopeo", "skopeo")
    root = tmp_path_factory.mktemp("skopeo-store")
    conf = root / "storage.conf"
    conf.write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{root}/run"\ngraphroot = "{root}/graph"\n'
    )
    env = dict(os.environ, CONTAINERS_STORAGE_CONF=str(conf))

    def run(text: str) -> str | None:
        proc = subprocess.run(
            [skopeo, "inspect", "--no-creds", f"containers-storage:{text}"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )
        match = _STORAGE_REF.search(proc.stderr)
        if match:
            return match.group("ref")
        assert proc.returncode != 0
        assert _PARSE_FAILURE.search(proc.stderr), proc.stderr
        return None

    return run


def _comparable(text: str) -> bool:
    """Inputs where skopeo's transport and this module are meant to agree.

    Excluded: '[' (the transport reads '[driver@root]' as a store), an '@'
    part without ':' (the transport reads it as an image ID), a first
    component with '.'/':' that is not a valid host and a sha384 digest
    (documented divergences).
    """
    if not text or "[" in text or not (text.isascii() and text.isprintable()) or " " in text:
        return False
    at = text.rpartition("@")
    if at[1] and ":" not in at[2]:
        return False
    if at[1] and at[2].startswith("sha384:"):
        return False  # documented: go-digest takes sha384, the OCI image spec does not register it
    first, slash, _ = text.partition("@")[0].partition("/")
    if slash and ("." in first or ":" in first):
        try:
            reference._check_domain(text, first)
        except ReferenceError:
            return False
    return True


DIFFERENTIAL_CASES = sorted(
    {t for t, *_ in VALID} | {t for t, _ in INVALID}
    | {
        "a/b/c/d/e", "docker.io/a", "docker.io/a/b", "Docker.io/a", "HARBOR.corp:5000/x/y:Z",
        "localhost:5000/A", "local/x", "localhost.localdomain/x", "a.b/c:d@" + SHA256,
        "a:b", "a:b:c", "a@b", "a/b@sha384:" + "c" * 96, "ubuntu:22.04", "ghcr.io/o/r:sha-123",
        "quay.io/prometheus/node-exporter:v1.7.0", "gcr.io/distroless/static:nonroot",
        "registry.k8s.io/pause:3.9", "public.ecr.aws/x/y", "r.io/a--b", "r.io/a-_b", "r.io/a._b",
        "123.45.67.89/a", "123.45.67.89:1/a", "a.1/b", "1.a/b", "x" * 237, "x" * 238,
    }
)


@pytest.mark.integration
def test_differential_against_skopeo(skopeo_parse) -> None:
    cases = [c for c in DIFFERENTIAL_CASES if _comparable(c)]
    assert len(cases) > 80
    with ThreadPoolExecutor(max_workers=4) as pool:
        oracle = dict(zip(cases, pool.map(skopeo_parse, cases), strict=True))
    disagreements = []
    for text in cases:
        try:
            ours: str | None = parse_reference(text).normalized
        except ReferenceError:
            ours = None
        theirs = oracle[text]
        if theirs is not None:
            # Documented: the host is lower-cased here (then Docker Hub's aliases
            # apply, registry-1.docker.io included); skopeo keeps it as written.
            theirs = normalize(theirs) if ours is not None else theirs
        if ours != theirs:
            disagreements.append((text, ours, oracle[text]))
    assert disagreements == []
    accepted = sum(v is not None for v in oracle.values())
    assert 40 < accepted < len(cases) - 30  # both outcomes are really exercised


@pytest.mark.integration
@given(st.lists(_alphabet, min_size=1, max_size=10).map("".join) | _grammatical)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_differential_fuzz_against_skopeo(skopeo_parse, text: str) -> None:
    if not _comparable(text):
        return
    try:
        ours: str | None = parse_reference(text).normalized
    except ReferenceError:
        ours = None
    theirs = skopeo_parse(text)
    if theirs is not None and ours is not None:
        theirs = normalize(theirs)
    assert ours == theirs, (text, ours, theirs)
