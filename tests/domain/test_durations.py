"""Durations people write: parsed, and bounded so that no input overflows a date."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.domain import durations
from harbourmaster.domain.durations import (
    MAX_TOKEN_LIFETIME,
    MAX_WINDOW,
    DurationError,
    describe_duration,
    parse_duration,
)
from harbourmaster.errors import BadInput


def test_public_names_are_pinned() -> None:
    assert set(durations.__all__) == {
        "MAX_TOKEN_LIFETIME",
        "MAX_WINDOW",
        "DurationError",
        "describe_duration",
        "parse_duration",
    }
    assert issubclass(DurationError, BadInput)
    assert (MAX_WINDOW.days, MAX_TOKEN_LIFETIME.days) == (36_500, 3_650)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14d", dt.timedelta(days=14)),
        ("2w", dt.timedelta(weeks=2)),
        ("36h", dt.timedelta(hours=36)),
        (" 7D ", dt.timedelta(days=7)),
        ("0d", dt.timedelta(0)),
        ("36500d", MAX_WINDOW),
        ("876000h", MAX_WINDOW),
    ],
)
def test_valid_durations(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text, field="--within", maximum=MAX_WINDOW) == expected


def test_minutes_only_where_allowed() -> None:
    since = parse_duration("30m", field="--since", maximum=MAX_WINDOW, units="mhdw")
    assert since == dt.timedelta(minutes=30)
    with pytest.raises(DurationError, match="not a duration"):
        parse_duration("30m", field="--within", maximum=MAX_WINDOW)


@pytest.mark.parametrize(
    "text",
    ["99999999999999999999d", "36501d", "5215w", "876001h", "9" * 5000 + "d", "999999999999d"],
)
def test_too_long_is_a_validation_error_naming_the_field_and_the_limit(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text, field="--within", maximum=MAX_WINDOW)
    message = info.value.message
    assert message.startswith("--within: ") and "too long" in message
    assert "36500 days (100 years)" in message
    assert len(message) < 200  # a huge input is not echoed whole


# Only ASCII digits: "²" passes str.isdigit() but int() rejects it (once a crash, now refused).
MALFORMED = ["", "d", "14", "soon", "-5d", "1.5d", "14 d", "²d", "\u0661\u0664d", "14x", "0x10d"]


@pytest.mark.parametrize("text", MALFORMED)
def test_malformed(text: str) -> None:
    with pytest.raises(DurationError, match=r"--expires-in: .* is not a duration; use a number and a unit"):
        parse_duration(text, field="--expires-in", maximum=MAX_TOKEN_LIFETIME)


def test_minimum() -> None:
    with pytest.raises(DurationError, match=r"too short; the minimum is 1 hour$"):
        parse_duration("0h", field="--expires-in", maximum=MAX_TOKEN_LIFETIME, minimum=dt.timedelta(hours=1))
    assert parse_duration(
        "1h", field="--expires-in", maximum=MAX_TOKEN_LIFETIME, minimum=dt.timedelta(hours=1)
    ) == dt.timedelta(hours=1)


def test_describe() -> None:
    assert describe_duration(MAX_TOKEN_LIFETIME) == "3650 days (10 years)"
    assert describe_duration(dt.timedelta(days=1)) == "1 day"
    assert describe_duration(dt.timedelta(hours=36)) == "36 hours"
    assert describe_duration(dt.timedelta(minutes=1)) == "1 minute"


@given(st.text(max_size=30) | st.from_regex(r"[0-9]{1,40}[mhdwMHDW]", fullmatch=True))
@settings(max_examples=500)
def test_any_text_is_a_bounded_duration_or_a_duration_error(text: str) -> None:
    try:
        value = parse_duration(text, field="f", maximum=MAX_TOKEN_LIFETIME, units="mhdw")
    except DurationError as exc:
        assert exc.message.startswith("f: ")
        return
    assert dt.timedelta(0) <= value <= MAX_TOKEN_LIFETIME
    now = dt.datetime.now(dt.UTC)
    assert now + value >= now  # never overflows
