from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbourmaster.registry.challenge import parse_www_authenticate


def test_docker_distribution_bearer_challenge() -> None:
    [c] = parse_www_authenticate(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:team/app:pull,push repository:base/img:pull"'
    )
    assert c.scheme == "bearer"
    assert c.realm == "https://auth.example.com/token"
    assert c.service == "registry.example.com"
    assert c.scopes == ("repository:team/app:pull,push", "repository:base/img:pull")


def test_several_challenges_and_escapes() -> None:
    cs = parse_www_authenticate(
        'Basic realm="a \\"quoted\\" realm, with comma", Bearer realm="https://t/x", '
        'service=tokenish , error="insufficient_scope"'
    )
    assert [c.scheme for c in cs] == ["basic", "bearer"]
    assert cs[0].realm == 'a "quoted" realm, with comma'
    assert cs[1].params == {"realm": "https://t/x", "service": "tokenish", "error": "insufficient_scope"}


def test_token68_and_bare_scheme() -> None:
    cs = parse_www_authenticate("Negotiate abc123==, Basic")
    assert [c.scheme for c in cs] == ["negotiate", "basic"]
    assert cs[0].params[""] == "abc123=="


@pytest.mark.parametrize("bad", ['Bearer realm="unterminated', "Bearer realm=@@", '"quoted" scheme'])
def test_malformed_headers_raise_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_www_authenticate(bad)


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
_value = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["Bearer", "Basic", "Digest"]), st.dictionaries(_token, _value, max_size=4)
        ),
        min_size=1,
        max_size=3,
    )
)
def test_round_trip(challenges: list[tuple[str, dict[str, str]]]) -> None:
    def quote(v: str) -> str:
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'

    header = ", ".join(
        f"{scheme} " + ", ".join(f"{k}={quote(v)}" for k, v in params.items())
        for scheme, params in challenges
    )
    parsed = parse_www_authenticate(header)
    assert [(c.scheme, c.params) for c in parsed] == [(s.lower(), p) for s, p in challenges]


@given(st.text(max_size=80))
def test_never_crashes_on_arbitrary_text(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_www_authenticate(text)
