from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbourmaster.registry.media import (
    DOCKER_MANIFEST,
    MAX_MANIFEST_BYTES,
    OCI_INDEX,
    OCI_MANIFEST,
    ImageIndex,
    ImageManifest,
    parse_digest,
    parse_manifest,
    referrers_tag,
    validate_repository,
    validate_tag,
)

D = "sha256:" + "a" * 64


def _manifest(**over: object) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": D, "size": 10},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": D, "size": 5}],
    }
    doc.update(over)
    return json.dumps(doc).encode()


@given(st.binary(max_size=64))
def test_digest_of_hashlib_output_parses(data: bytes) -> None:
    text = "sha256:" + hashlib.sha256(data).hexdigest()
    assert parse_digest(text) == text


@given(st.text(max_size=80))
def test_parse_digest_accepts_only_wellformed(text: str) -> None:
    try:
        parse_digest(text)
    except ValueError:
        return
    algorithm, _, hexpart = text.partition(":")
    assert algorithm in {"sha256", "sha512"}
    assert len(hexpart) == {"sha256": 64, "sha512": 128}[algorithm]
    assert all(c in "0123456789abcdef" for c in hexpart)


@pytest.mark.parametrize("bad", ["sha256:" + "A" * 64, "sha256:abc", "md5:" + "a" * 32, "nodigest", ""])
def test_bad_digests(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_digest(bad)


def test_parse_image_manifest_and_index() -> None:
    m = parse_manifest(_manifest())
    assert isinstance(m, ImageManifest) and m.total_size == 15
    idx = parse_manifest(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": D,
                        "size": 3,
                        "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
                    }
                ],
            }
        ).encode()
    )
    assert isinstance(idx, ImageIndex) and str(idx.manifests[0].platform) == "linux/arm64/v8"


@pytest.mark.parametrize(
    ("data", "content_type", "fragment"),
    [
        (b"{not json", None, "not valid JSON"),
        (b"[]", None, "JSON object"),
        (_manifest(schemaVersion=1), None, "schemaVersion"),
        (_manifest(), "text/html", "not a manifest media type"),
        (_manifest(), DOCKER_MANIFEST, "contradicts"),
        (_manifest(layers="x"), None, "manifest.layers"),
        (
            _manifest(config={"mediaType": "x", "digest": "sha256:zz", "size": 1}),
            None,
            "manifest.config.digest",
        ),
        (_manifest(config={"mediaType": "x", "digest": D, "size": -1}), None, "manifest.config.size"),
        (
            _manifest(mediaType="application/vnd.docker.distribution.manifest.v1+prettyjws"),
            None,
            "not supported",
        ),
        (b" " * (MAX_MANIFEST_BYTES + 1), None, "limit"),
    ],
)
def test_malformed_manifests_name_the_problem(data: bytes, content_type: str | None, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_manifest(data, content_type=content_type)


def test_names_and_referrers_tag() -> None:
    assert validate_repository("team/app-1/x.y__z") == "team/app-1/x.y__z"
    for bad in ("Team/app", "team//app", "-x", "a" * 256):
        with pytest.raises(ValueError):
            validate_repository(bad)
    assert validate_tag("v1.2_3-rc") == "v1.2_3-rc"
    with pytest.raises(ValueError):
        validate_tag(".hidden")
    assert referrers_tag(parse_digest(D)) == "sha256-" + "a" * 64
