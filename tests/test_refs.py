"""The one reference grammar: names, versions, tags and times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lakehouse.errors import InvalidName, InvalidRef
from lakehouse.refs import (
    Ref,
    is_range,
    is_reserved_tag,
    parse_range,
    parse_ref,
    parse_time,
    validate_name,
    validate_tag,
)


@pytest.mark.parametrize(
    "name",
    ["mnist-train", "a", "0", "digits.v2", "a_b-c.d", "x" * 128, "9lives", "a..b"],
)
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("../x", "parent directory"),
        ("/abs", "absolute path"),
        ("a/b", "path separator"),
        ("a\\b", "windows separator"),
        ("..", "dot-dot"),
        (".hidden", "leading dot"),
        ("-x", "leading dash"),
        ("_x", "leading underscore"),
        ("Mnist", "uppercase"),
        ("mnist\n", "trailing newline"),
        (" mnist", "leading space"),
        ("mn ist", "inner space"),
        ("x" * 129, "129 characters"),
        ("mnіst", "cyrillic i look-alike"),
        ("ｍnist", "fullwidth m"),
        ("mnist\u200b", "zero-width space"),
        ("café", "accented letter"),
        ("a:b", "colon"),
        ("a@b", "at sign"),
        ("a\x00b", "NUL byte"),
    ],
)
def test_invalid_names_are_refused_with_the_rule(name: str, why: str) -> None:
    with pytest.raises(InvalidName, match="lowercase letters, digits") as info:
        validate_name(name)
    assert repr(name) in str(info.value), why


def test_non_string_name() -> None:
    with pytest.raises(InvalidName, match="must be a string, got int 3"):
        validate_name(3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mnist", Ref("mnist")),
        ("mnist:latest", Ref("mnist")),
        ("mnist:v0", Ref("mnist", version=0)),
        ("mnist:v17", Ref("mnist", version=17)),
        ("mnist:prod", Ref("mnist", tag="prod")),
        ("mnist:release-1.2", Ref("mnist", tag="release-1.2")),
        ("mnist:3", Ref("mnist", tag="3")),
        ("mnist@2026-11-01T12:00:00Z", Ref("mnist", as_of=datetime(2026, 11, 1, 12, tzinfo=UTC))),
        ("mnist@2026-11-01T13:30:00+01:30", Ref("mnist", as_of=datetime(2026, 11, 1, 12, tzinfo=UTC))),
        ("mnist@2026-11-01", Ref("mnist", as_of=datetime(2026, 11, 1, tzinfo=UTC))),
    ],
)
def test_parse_ref(text: str, expected: Ref) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize(
    "ref",
    [Ref("mnist"), Ref("mnist", version=3), Ref("mnist", tag="prod"), Ref("m", as_of=datetime(2026, 1, 2, tzinfo=UTC))],
)
def test_str_round_trips(ref: Ref) -> None:
    assert parse_ref(str(ref)) == ref


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "non-empty string"),
        ("mnist:", "nothing after ':'"),
        ("mnist@", "nothing after '@'"),
        ("Mnist:v1", "dataset name 'Mnist'"),
        ("../etc:v1", "dataset name '../etc'"),
        ("mnist:Prod", "neither a version"),
        ("mnist:v1:v2", "neither a version"),
        ("mnist@yesterday", "invalid time 'yesterday'"),
        ("mnist@2026-13-01", "invalid time"),
        ("mnist:-1", "neither a version"),
        ("mnist:v1\n", "neither a version"),
    ],
)
def test_bad_refs_name_the_problem(text: str, match: str) -> None:
    with pytest.raises(InvalidRef, match=match):
        parse_ref(text)


def test_non_string_ref() -> None:
    with pytest.raises(InvalidRef, match="got None"):
        parse_ref(None)


def test_ref_selects_one_thing() -> None:
    with pytest.raises(InvalidRef, match="not several at once"):
        Ref("mnist", version=1, tag="prod")
    with pytest.raises(InvalidRef, match="non-negative"):
        Ref("mnist", version=-1)


@pytest.mark.parametrize("tag", ["latest", "v0", "v3", "v123"])
def test_reserved_tags_explain_themselves(tag: str) -> None:
    assert is_reserved_tag(tag)
    with pytest.raises(InvalidName, match="reserved by the ref grammar") as info:
        validate_tag(tag)
    text = str(info.value)
    if tag == "latest":
        assert "newest" in text
    else:
        assert f"refer to version {tag[1:]} as ':{tag}'" in text


@pytest.mark.parametrize("tag", ["prod", "v", "v1a", "version3", "latest-good", "va"])
def test_ordinary_tags(tag: str) -> None:
    assert not is_reserved_tag(tag)
    assert validate_tag(tag) == tag


def test_parse_time_is_utc_aware() -> None:
    naive = parse_time("2026-11-01T12:00:00")
    assert naive.tzinfo is not None
    assert naive.utcoffset() == timedelta(0)
    paris = parse_time("2026-11-01T12:00:00+01:00")
    assert paris == datetime(2026, 11, 1, 11, tzinfo=UTC)
    assert paris.tzinfo == UTC


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("digits:v2..v3", Ref("digits", version=2), Ref("digits", version=3)),
        ("digits:raw..prod", Ref("digits", tag="raw"), Ref("digits", tag="prod")),
        ("digits:v0..latest", Ref("digits", version=0), Ref("digits")),
        (
            "digits@2026-11-01T00:00:00Z..@2026-11-02T00:00:00Z",
            Ref("digits", as_of=datetime(2026, 11, 1, tzinfo=UTC)),
            Ref("digits", as_of=datetime(2026, 11, 2, tzinfo=UTC)),
        ),
        ("a..b:v1..v2", Ref("a..b", version=1), Ref("a..b", version=2)),
    ],
)
def test_parse_range(text: str, start: Ref, end: Ref) -> None:
    assert is_range(text)
    assert parse_range(text) == (start, end)


@pytest.mark.parametrize("text", ["a..b", "a..b:v1", "digits", "digits:v2"])
def test_not_a_range(text: str) -> None:
    """Dataset names may hold '..': only a selected version before '..' makes a range."""
    assert not is_range(text)
    with pytest.raises(InvalidRef, match="name:v2..v3"):
        parse_range(text)


@pytest.mark.parametrize(
    ("text", "match"),
    [("digits:v2..", "nothing after"), ("digits:v2..x y", "neither a version"), ("Digits:v1..v2", "dataset name")],
)
def test_bad_ranges(text: str, match: str) -> None:
    with pytest.raises(InvalidRef, match=match):
        parse_range(text)
