from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from harbourmaster.domain.spelling import UNPRINTABLE, did_you_mean, field_name, is_identifier_shaped


def test_near_misses_get_the_closest_name() -> None:
    assert did_you_mean("prod-us", ["prod-eu", "staging-k8s", "dev-docker"]) == " (did you mean prod-eu?)"
    assert did_you_mean("scop", ["scope", "url"], quote=True) == " (did you mean 'scope'?)"
    assert did_you_mean("PROD-EU", ["prod-eu"]) == " (did you mean prod-eu?)"
    assert did_you_mean("nothing-like-it", ["prod-eu"]) == ""
    assert did_you_mean("prod-eu", ["prod-eu"]) == ""  # not a miss at all
    assert did_you_mean("", ["a"]) == "" and did_you_mean(None, ["a"]) == ""


def test_only_identifier_shaped_names_are_repeated() -> None:
    for name in ("scope", "apiVersion", "feed_url", "client-key", "_x", "a" * 32):
        assert field_name(name) == f"'{name}'"
    for text in ("a" * 33, "hunter2 is my password", "s3cr3t!", "-----BEGIN", "ghp_x/y", "", "9lives", "é"):
        assert field_name(text) == UNPRINTABLE, text
    assert field_name(3) == UNPRINTABLE and field_name(None) == UNPRINTABLE


@given(st.text(max_size=64))
def test_a_name_is_shown_only_when_identifier_shaped(text: str) -> None:
    shown = field_name(text)
    assert shown == (f"'{text}'" if is_identifier_shaped(text) else UNPRINTABLE)
    if shown != UNPRINTABLE:
        assert len(text) <= 32 and text.replace("_", "a").replace("-", "a").isascii()
