"""The one digest type: the OCI image spec's grammar and registered algorithms, used by every layer."""

from __future__ import annotations

import hashlib
import json
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbourmaster.domain import digest as digest_module
from harbourmaster.domain.digest import REGISTERED_ALGORITHMS, Digest, DigestError, parse_digest
from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.errors import BadInput
from harbourmaster.registry import media
from harbourmaster.supply.sbom import SourceError
from harbourmaster.supply.sbom.sources._json import check_digest

HEX64 = "0123456789abcdef" * 4
HEX128 = HEX64 * 2


def test_public_names_are_pinned() -> None:
    assert set(digest_module.__all__) == {
        "DIGEST_MAX_LENGTH", "REGISTERED_ALGORITHMS", "Digest", "DigestError", "parse_digest"}
    assert issubclass(DigestError, BadInput) and issubclass(DigestError, ValueError)
    assert REGISTERED_ALGORITHMS == {"sha256": 64, "sha512": 128}


# (text, accepted, words in the refusal)
TABLE = [
    (f"sha256:{HEX64}", True, ""),
    (f"sha512:{HEX128}", True, ""),
    # Registered algorithms with the wrong encoding.
    (f"sha256:{HEX64[:-1]}", False, "has 64 hex digits, not 63"),
    (f"sha256:{HEX64}0", False, "has 64 hex digits, not 65"),
    (f"sha512:{HEX64}", False, "has 128 hex digits, not 64"),
    (f"sha256:{HEX64.upper()}", False, "lower-case hex"),
    ("sha256:" + "g" * 64, False, "lower-case hex"),
    ("sha256:" + "=" * 64, False, "lower-case hex"),
    # Grammatical, but not registered by the OCI image spec: refused as unsupported.
    ("sha384:" + "b" * 96, False, "algorithm 'sha384' is not supported"),
    ("md5:" + "a" * 32, False, "algorithm 'md5' is not supported"),
    ("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", False, "'sha256+b64u' is not supported"),
    ("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", False, "is not supported"),
    ("blake3:" + HEX64, False, "'blake3' is not supported"),
    # Not the grammar at all.
    ("", False, "not 'algorithm:encoded'"),
    ("sha256", False, "not 'algorithm:encoded'"),
    (HEX64, False, "not 'algorithm:encoded'"),
    ("sha256:", False, "not 'algorithm:encoded'"),
    (":" + HEX64, False, "not 'algorithm:encoded'"),
    ("SHA256:" + HEX64, False, "not 'algorithm:encoded'"),
    ("sha256::" + HEX64, False, "not 'algorithm:encoded'"),
    ("sha256:" + HEX64 + "/", False, "not 'algorithm:encoded'"),
    ("sha256:" + HEX64 + "\n", False, "not 'algorithm:encoded'"),
    (" sha256:" + HEX64, False, "not 'algorithm:encoded'"),
    ("sha_:" + HEX64, False, "not 'algorithm:encoded'"),
    ("sha256:" + "a" * 2000, False, "longer than any digest"),
]


@pytest.mark.parametrize(("text", "accepted", "words"), TABLE)
def test_accepted_and_refused_digests(text: str, accepted: bool, words: str) -> None:
    if accepted:
        parsed = parse_digest(text)
        assert parsed == text and isinstance(parsed, Digest)
        assert f"{parsed.algorithm}:{parsed.hex}" == text
        return
    with pytest.raises(DigestError) as caught:
        parse_digest(text)
    assert words in caught.value.message


@pytest.mark.parametrize(("text", "accepted", "words"), TABLE)
def test_every_layer_accepts_and_refuses_the_same_digests(text: str, accepted: bool, words: str) -> None:
    """Image references, the registry client and the SBOM sources all take the domain's verdict."""
    verdicts = []
    try:
        parse_reference(f"h.io/app@{text}")
        verdicts.append(True)
    except ReferenceError:
        verdicts.append(False)
    try:
        media.parse_digest(text)
        verdicts.append(True)
    except ValueError:
        verdicts.append(False)
    try:
        check_digest(text, where="test")
        verdicts.append(True)
    except SourceError:
        verdicts.append(False)
    assert verdicts == [accepted] * 3


@given(st.binary(max_size=256), st.sampled_from(sorted(REGISTERED_ALGORITHMS)))
def test_the_digest_of_content_parses_back_and_matches_it(data: bytes, algorithm: str) -> None:
    made = Digest.of(data, algorithm)
    assert made == f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"
    again = parse_digest(str(made))
    assert again == made and (again.algorithm, again.hex) == (made.algorithm, made.hex)
    assert again.matches(data)
    assert not again.matches(data + b"x")


_registered = st.sampled_from(sorted(REGISTERED_ALGORITHMS)).flatmap(
    lambda a: st.text("0123456789abcdef", min_size=REGISTERED_ALGORITHMS[a],
                      max_size=REGISTERED_ALGORITHMS[a]).map(lambda h: f"{a}:{h}"))


@given(_registered)
def test_round_trip_through_text_json_and_pickle(text: str) -> None:
    digest = Digest(text)
    assert Digest(str(digest)) == digest == text
    assert Digest(digest) is digest  # constructing from a Digest does not check twice
    assert json.loads(json.dumps({"d": digest}))["d"] == text
    assert pickle.loads(pickle.dumps(digest)) == digest
    assert type(pickle.loads(pickle.dumps(digest))) is Digest
    assert hash(digest) == hash(text)


@given(st.text(max_size=140))
def test_anything_accepted_is_a_registered_algorithm_and_exactly_its_hex(text: str) -> None:
    try:
        parsed = parse_digest(text)
    except DigestError:
        return
    assert parsed.algorithm in REGISTERED_ALGORITHMS
    assert len(parsed.hex) == REGISTERED_ALGORITHMS[parsed.algorithm]
    assert set(parsed.hex) <= set("0123456789abcdef")


def test_an_unregistered_algorithm_cannot_compute_a_digest() -> None:
    with pytest.raises(DigestError, match="'sha384' is not supported"):
        Digest.of(b"x", "sha384")
    with pytest.raises(DigestError, match="must be a string"):
        Digest(5)  # type: ignore[arg-type]
