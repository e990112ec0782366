from __future__ import annotations

import copy
import json
import logging
import pickle
import traceback

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbourmaster.domain import secret as secret_module
from harbourmaster.domain.secret import (
    REDACTED,
    Secret,
    SecretReference,
    SecretReferenceError,
    parse_secret_reference,
)
from harbourmaster.errors import BadInput

CANARY = "canary-7f3a9c1e-hunter2-SECRET"


def test_exported_names_are_pinned() -> None:
    assert sorted(secret_module.__all__) == sorted(
        ["REDACTED", "Secret", "SecretReference", "SecretReferenceError", "parse_secret_reference"]
    )


def test_reveal_is_the_way_to_the_value() -> None:
    assert Secret(CANARY).reveal() == CANARY


@pytest.mark.parametrize(
    "render",
    [
        repr,
        str,
        lambda s: f"{s}",
        lambda s: f"{s!r}",
        lambda s: f"{s:>80}",
        lambda s: format(s, "s"),
        lambda s: "%s %r" % (s, s),  # noqa: UP031 - the old style is what logging uses
        lambda s: "{} {!r}".format(s, s),  # noqa: UP032
        lambda s: repr([s, {"k": s}, (s,)]),
        lambda s: str({"password": s}),
    ],
)
def test_every_rendering_is_the_fixed_redaction(render) -> None:
    text = render(Secret(CANARY))
    assert CANARY not in text
    assert "Secret('**********')" in text


def test_redaction_does_not_reveal_length() -> None:
    assert repr(Secret("a")) == repr(Secret("a" * 1000)) == REDACTED
    assert f"{Secret('')}" == f"{Secret('x' * 50)}"


def test_logging_never_shows_the_value(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("harbourmaster.test")
    secret = Secret(CANARY)
    with caplog.at_level(logging.DEBUG):
        log.info("password is %s", secret)
        log.warning("password is %r", secret)
        log.error("config %s", {"password": secret})
        try:
            raise ValueError(f"bad credential {secret}")
        except ValueError:
            log.exception("failed with %s", secret)
    assert caplog.records
    assert CANARY not in caplog.text
    assert all(CANARY not in r.getMessage() for r in caplog.records)


def test_traceback_locals_show_the_redaction() -> None:
    def fails(password: Secret) -> None:
        raise RuntimeError("boom")

    try:
        fails(Secret(CANARY))
    except RuntimeError as exc:
        rendered = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    assert "password = Secret('**********')" in rendered
    assert CANARY not in rendered


def test_not_json_serialisable_and_not_a_str() -> None:
    assert not isinstance(Secret(CANARY), str)
    with pytest.raises(TypeError) as info:
        json.dumps({"password": Secret(CANARY)})
    assert CANARY not in str(info.value)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_cannot_be_pickled(protocol: int) -> None:
    with pytest.raises(TypeError) as info:
        pickle.dumps(Secret(CANARY), protocol=protocol)
    assert CANARY not in str(info.value)


def test_copies_are_the_same_immutable_object() -> None:
    s = Secret(CANARY)
    assert copy.copy(s) is s
    assert copy.deepcopy({"a": s})["a"] is s


def test_immutable_and_slotted() -> None:
    s = Secret(CANARY)
    with pytest.raises(AttributeError):
        s.value = "x"  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        s._Secret__value = "x"  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        del s._Secret__value  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        vars(s)
    assert s.reveal() == CANARY


def test_truthiness_follows_emptiness() -> None:
    assert not Secret("")
    assert Secret(" ")
    assert Secret(CANARY)


def test_equality_is_by_value_between_secrets_only() -> None:
    assert Secret(CANARY) == Secret(CANARY)
    assert Secret(CANARY).equals(Secret(CANARY))
    assert Secret(CANARY) != Secret(CANARY + "x")
    assert not Secret(CANARY).equals(Secret(""))
    # A plain string never matches, so == cannot be used to guess.
    assert Secret(CANARY) != CANARY
    assert CANARY != Secret(CANARY)  # noqa: SIM300 - the str-first order is the point
    assert not Secret(CANARY).equals(CANARY)  # type: ignore[arg-type]


def test_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(Secret(CANARY))


def test_rejects_non_str_without_echoing() -> None:
    with pytest.raises(TypeError) as info:
        Secret(CANARY.encode())  # type: ignore[arg-type]
    assert "bytes" in str(info.value)
    assert CANARY not in str(info.value)


@given(st.text(), st.text())
def test_equals_agrees_with_value_equality(a: str, b: str) -> None:
    assert Secret(a).equals(Secret(b)) == (a == b)
    assert Secret(a).equals(Secret(a))
    assert repr(Secret(a)) == REDACTED


# --- references -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scheme", "target"),
    [
        ("env:REGISTRY_TOKEN", "env", "REGISTRY_TOKEN"),
        ("env:_x1", "env", "_x1"),
        ("file:/run/secrets/registry", "file", "/run/secrets/registry"),
        ("file:/a b/c:d", "file", "/a b/c:d"),
    ],
)
def test_parses_references(text: str, scheme: str, target: str) -> None:
    ref = parse_secret_reference(text, field="registries[0].password")
    assert ref == SecretReference(scheme=scheme, target=target)  # type: ignore[arg-type]
    assert str(ref) == text


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (CANARY, "never inline"),
        ("", "never inline"),
        ("hunter2:" + CANARY, "never inline"),
        ("ENV:" + CANARY, "never inline"),
        (" env:TOKEN", "never inline"),
        ("env:", "environment variable"),
        ("env:1TOKEN", "environment variable"),
        ("env:" + CANARY, "environment variable"),
        ("env:TOKEN ", "environment variable"),
        ("file:relative/" + CANARY, "absolute path"),
        ("file:", "absolute path"),
        ("file:/x\n" + CANARY, "line breaks"),
        ("file:/x\x00" + CANARY, "NUL"),
    ],
)
def test_bad_references_name_the_field_and_never_echo_the_text(text: str, fragment: str) -> None:
    with pytest.raises(SecretReferenceError) as info:
        parse_secret_reference(text, field="registries[2].password")
    message = info.value.diagnostics()
    assert message.startswith("registries[2].password: ")
    assert fragment in message
    assert CANARY not in message
    assert isinstance(info.value, BadInput)


def test_non_string_reference_is_refused() -> None:
    with pytest.raises(SecretReferenceError, match="never inline"):
        parse_secret_reference(12345, field="token")  # type: ignore[arg-type]


def _fixed_messages() -> set[str]:
    messages = set()
    for probe in ("x", "env:1", "file:x", "file:/\n"):
        try:
            parse_secret_reference(probe, field="f")
        except SecretReferenceError as exc:
            messages.add(exc.diagnostics())
    return messages


FIXED_MESSAGES = _fixed_messages()


@given(st.one_of(st.text(), st.tuples(st.sampled_from(["env:", "file:", "file:/"]), st.text()).map("".join)))
def test_parser_never_crashes_and_never_echoes(text: str) -> None:
    try:
        ref = parse_secret_reference(text, field="f")
    except SecretReferenceError as exc:
        # The message is one of a few fixed texts: nothing of the input is in it.
        assert exc.diagnostics() in FIXED_MESSAGES
    else:
        assert str(ref) == text
        if ref.scheme == "file":
            assert ref.target.startswith("/")
            assert "\n" not in ref.target
        else:
            assert ref.scheme == "env"
            assert ref.target.isascii()
            assert ref.target.isidentifier()


def test_there_are_four_fixed_messages() -> None:
    assert len(FIXED_MESSAGES) == 4
