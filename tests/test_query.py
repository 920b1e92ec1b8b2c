"""The /photos query language: every term, errors, round trips, cursors."""

from __future__ import annotations

import base64
import json
import string
from datetime import UTC, date, datetime, timedelta, timezone
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.query import (
    HELP_TEXT,
    MAX_QUERY_LENGTH,
    ChannelRef,
    Cursor,
    PersonRef,
    Query,
    QueryError,
    decode_cursor,
    describe,
    encode_cursor,
    format_query,
    is_help,
    parse,
    terms_of,
)
from handlers.tags import normalize_tag


def error_of(text: str) -> str:
    with pytest.raises(QueryError) as info:
        parse(text)
    message = str(info.value)
    assert message
    assert len(message.splitlines()) == 1
    assert " Try: /photos " in message
    return message


# ------------------------------------------------------------------------------------ every term


def test_empty_query_means_everything() -> None:
    for text in ("", "   ", "\n\t"):
        query = parse(text)
        assert query == Query()
        assert query.is_empty
    assert describe(Query()) == "all photos and videos, newest first"


def test_words_and_phrases() -> None:
    query = parse('beach "team dinner" Beach “smart quotes” sunset')
    assert query.words == ("beach", "team dinner", "smart quotes", "sunset")
    assert parse('"  spaced   out  "').words == ("spaced out",)
    assert parse('""').words == ()
    assert parse("10:30 rock&amp;roll").words == ("10:30", "rock&roll")
    assert parse('"colour:red" "@not-a-person" "#not-a-tag"').words == (
        "colour:red",
        "@not-a-person",
        "#not-a-tag",
    )


def test_people() -> None:
    assert parse("@alice").people == (PersonRef(name="alice"),)
    assert parse("@Alice, @bob").people == (PersonRef(name="Alice"), PersonRef(name="bob"))
    assert parse('@"Alice Smith"').people == (PersonRef(name="Alice Smith"),)
    assert parse("<@U123ABC>").people == (PersonRef(user_id="U123ABC"),)
    assert parse("<@U123ABC|alice>").people == (PersonRef(user_id="U123ABC", name="alice"),)
    assert parse("<@U1> <@U1|alice> @Alice @alice").people == (
        PersonRef(user_id="U1"),
        PersonRef(name="Alice"),
    )
    assert parse("alice@example.com").words == ("alice@example.com",)


def test_suggested_extends_people() -> None:
    query = parse("@alice is:suggested")
    assert query.include_suggested
    assert not parse("@alice").include_suggested
    assert "suggest" in describe(query)
    assert "is:suggested" in error_of("is:suggested")


def test_tags() -> None:
    assert parse("#Offsite #team-2024 #offsite").tags == ("offsite", "team-2024")
    assert parse("#ＯＦＦＳＩＴＥ #ﬁeld").tags == ("offsite", "field")
    assert parse("#offsite,").tags == ("offsite",)
    assert "not a valid tag" in error_of("#")
    assert "not a valid tag" in error_of("#emoji🎉")
    assert "not a valid tag" in error_of("#" + "a" * 65)


def test_channels() -> None:
    assert parse("in:#general").channels == (ChannelRef(name="general"),)
    assert parse("in:general").channels == (ChannelRef(name="general"),)
    assert parse('in:"Offsite 2024"').channels == (ChannelRef(name="Offsite 2024"),)
    assert parse("<#C123|general>").channels == (ChannelRef(channel_id="C123", name="general"),)
    assert parse("<#C123>").channels == (ChannelRef(channel_id="C123"),)
    assert parse("<#C123|>").channels == (ChannelRef(channel_id="C123"),)
    assert parse("in:<#C123|general>").channels == (ChannelRef(channel_id="C123", name="general"),)
    assert "needs a value" in error_of("in:")
    assert "not a channel" in error_of("in:<@U1>")


def test_uploaders() -> None:
    assert parse("from:@bob").uploaders == (PersonRef(name="bob"),)
    assert parse("from:bob").uploaders == (PersonRef(name="bob"),)
    assert parse('from:@"Bob Brown"').uploaders == (PersonRef(name="Bob Brown"),)
    assert parse("from:<@U9>").uploaders == (PersonRef(user_id="U9"),)
    assert parse("from:<@U9|bob>").uploaders == (PersonRef(user_id="U9", name="bob"),)
    assert parse("from:<@U9>").people == ()
    assert "not a person" in error_of("from:<#C1>")
    assert "needs a name" in error_of("from:@")


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("on:2024-05-17", date(2024, 5, 17), date(2024, 5, 18)),
        ("on:2024-05", date(2024, 5, 1), date(2024, 6, 1)),
        ("on:2024-02", date(2024, 2, 1), date(2024, 3, 1)),
        ("on:2024-12", date(2024, 12, 1), date(2025, 1, 1)),
        ("on:2024-02-29", date(2024, 2, 29), date(2024, 3, 1)),
        ("after:2024-05-10", date(2024, 5, 11), None),  # exclusive
        ("after:2024-05", date(2024, 6, 1), None),  # after the whole month
        ("before:2024-05-10", None, date(2024, 5, 10)),  # exclusive
        ("before:2024-05", None, date(2024, 5, 1)),  # before the whole month
        ("after:2024-04 before:2024-07", date(2024, 5, 1), date(2024, 7, 1)),
        ("on:2024-05 after:2024-05-10", date(2024, 5, 11), date(2024, 6, 1)),
        ("before:2024-05-20 on:2024-05", date(2024, 5, 1), date(2024, 5, 20)),
        ("On:2024-05-17", date(2024, 5, 17), date(2024, 5, 18)),
        ("on:9999-12-31", date(9999, 12, 31), None),
    ],
)
def test_dates(text: str, start: date | None, end: date | None) -> None:
    query = parse(text)
    assert (query.start, query.end) == (start, end)


def test_time_range() -> None:
    tz = timezone(timedelta(hours=2))
    start, end = parse("on:2024-05").time_range(tz)
    assert start == datetime(2024, 5, 1, tzinfo=tz)
    assert end == datetime(2024, 6, 1, tzinfo=tz)
    assert Query().time_range(UTC) == (None, None)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("after:2024-13-01", "not a real date"),
        ("on:2023-02-29", "not a real date"),
        ("on:2024-00", "not a real date"),
        ("on:0000-01-01", "not a real date"),
        ("before:yesterday", "YYYY-MM-DD"),
        ("on:2024-5-1", "YYYY-MM-DD"),
        ("on:24-05-01", "YYYY-MM-DD"),
        ("after:2024-06 before:2024-05", "No date matches"),
        ("after:2024-05-10 before:2024-05-11", "No date matches"),
        ("on:2024-05 before:2024-05-01", "No date matches"),
        ("after:9999-12-31", "Nothing can be"),
        ("after:2024-01 after:2024-02", "Only one after:"),
        ("on:2024-01 on:2024-01", "Only one on:"),
        ("before:2024-01 before:2024-02", "Only one before:"),
    ],
)
def test_date_errors(text: str, fragment: str) -> None:
    assert fragment in error_of(text)


def test_type_has_is() -> None:
    assert parse("type:photo").media_type == "photo"
    assert parse("type:Videos").media_type == "video"
    assert parse("has:faces").has_faces
    assert parse("has:unknown").has_unknown
    assert parse("is:pending").pending
    query = parse("has:faces has:faces is:pending is:pending")  # repeated flags are harmless
    assert query.has_faces
    assert query.pending
    assert "Only one type:" in error_of("type:photo type:video")
    assert "Only one type:" in error_of("type:photo type:photo")
    assert "photo or video" in error_of("type:gif")
    assert "has:faces" in error_of("has:cats")
    assert "is:pending" in error_of("is:starred")


def test_unknown_filter_error_matches_the_documented_shape() -> None:
    assert error_of("colour:red") == 'Unknown filter "colour:". Try: /photos @alice #offsite after:2024-05'
    assert 'did you mean "after:"' in error_of("afer:2024-05")
    assert 'did you mean "from:"' in error_of("frm:@bob")


def test_other_errors() -> None:
    assert "Missing closing quote" in error_of('"team dinner')
    assert "Group mentions" in error_of("<!here>")
    assert "Excluding" in error_of("-#offsite")
    assert "Excluding" in error_of("-type:video")
    assert "needs a name" in error_of("@")
    assert "too long" in error_of("a" * (MAX_QUERY_LENGTH + 1))
    assert "too many terms" in error_of("a " * 100)


def test_urls_and_links_are_words() -> None:
    assert parse("http://x.example/#a").words == ("http://x.example/#a",)
    assert parse("<https://x.example/#a|label>").words == ("https://x.example/#a",)


def test_everything_together() -> None:
    query = parse(
        'beach "team dinner" <@U1|alice> @bob is:suggested #Offsite in:<#C1|general> from:@carol '
        "after:2024-04 before:2024-07 type:photo has:faces has:unknown is:pending"
    )
    assert query == Query(
        words=("beach", "team dinner"),
        people=(PersonRef("U1", "alice"), PersonRef(name="bob")),
        tags=("offsite",),
        channels=(ChannelRef("C1", "general"),),
        uploaders=(PersonRef(name="carol"),),
        start=date(2024, 5, 1),
        end=date(2024, 7, 1),
        media_type="photo",
        has_faces=True,
        has_unknown=True,
        pending=True,
        include_suggested=True,
    )
    assert parse(format_query(query)) == query


@pytest.mark.parametrize(
    ("text", "summary"),
    [
        ("@alice #offsite after:2024-04", "photos and videos of @alice tagged #offsite since 2024-05-01"),
        ("type:photo on:2024-05", "photos in May 2024"),
        ("type:video on:2024-05-17 in:#general", "videos in #general on 2024-05-17"),
        ("is:pending from:<@U9>", "pending photos and videos shared by <@U9>"),
        ("has:unknown before:2024-01", "photos and videos with unrecognised faces before 2024-01-01"),
        ('beach "team dinner"', 'photos and videos matching "beach" and "team dinner"'),
        ("after:2024-04 before:2024-05-10", "photos and videos from 2024-05-01 to 2024-05-09"),
    ],
)
def test_describe(text: str, summary: str) -> None:
    assert describe(parse(text)) == summary


def test_help() -> None:
    for text in ("help", " HELP ", "?", "--help"):
        assert is_help(text)
    assert not is_help("help me")
    assert parse('"help"').words == ("help",)
    for term in (
        '"',
        "@alice",
        "is:suggested",
        "#offsite",
        "in:#general",
        "from:@bob",
        "after:",
        "before:",
        "on:",
        "type:photo",
        "type:video",
        "has:faces",
        "has:unknown",
        "is:pending",
        "YYYY-MM",
    ):
        assert term in HELP_TEXT
    assert "*" not in HELP_TEXT
    assert "_" not in HELP_TEXT
    for line in HELP_TEXT.splitlines():
        for example in line.split("`")[1::2]:
            if example.startswith("/photos"):
                example = example.removeprefix("/photos")
            parse(example)  # every example in the help parses


# ------------------------------------------------------------------------------------ properties

FRAGMENTS = [
    " ", "  ", "\n", "\u2028", '"', "“", "”", "<", ">", "|", "@", "#", "-", ":", ",", ".", "&amp;", "&lt;",
    "<@", "<#", "<!", "U123", "C9", "alice", "Alice Smith", "in:", "from:", "after:", "before:", "on:",
    "type:", "has:", "is:", "photo", "video", "faces", "unknown", "pending", "suggested", "2024-05",
    "2024-05-17", "2024-13-01", "9999-12-31", "0000-01", "colour:", "http://x/#a", "ﬁ", "Ｏ", "\x00", "é",
]  # fmt: skip


def assert_parses_or_fails_cleanly(text: str) -> None:
    try:
        query = parse(text)
    except QueryError as error:
        message = str(error)
        assert message.strip()
        assert len(message.splitlines()) == 1
        return
    assert isinstance(query, Query)
    for field in (query.words, query.people, query.tags, query.channels, query.uploaders):
        assert isinstance(field, tuple)
    if query.start is not None and query.end is not None:
        assert query.start < query.end
    again = parse(format_query(query))  # always parses back...
    names = [*query.words, *(p.name or "" for p in query.people + query.uploaders)]
    names += [c.name or "" for c in query.channels]
    if not any(quote in name for name in names for quote in '"“”'):
        assert again == query  # ...to the same query, unless a quote mark had to be dropped
    assert describe(query).strip()
    assert len(describe(query).splitlines()) == 1


@given(st.text())
def test_any_text_parses_or_fails_cleanly(text: str) -> None:
    assert_parses_or_fails_cleanly(text)


@given(st.lists(st.sampled_from(FRAGMENTS), max_size=25).map("".join))
def test_query_like_text_parses_or_fails_cleanly(text: str) -> None:
    assert_parses_or_fails_cleanly(text)


PLAIN = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters='"“”„&<>|')


def one_line(min_size: int = 1) -> st.SearchStrategy[str]:
    return (
        st.text(PLAIN, min_size=min_size, max_size=20)
        .map(lambda s: " ".join(s.split()))
        .filter(lambda s: bool(s))
    )


ids = st.text(string.ascii_uppercase + string.digits, min_size=1, max_size=11)
people = st.one_of(
    st.builds(PersonRef, name=one_line()),
    st.builds(PersonRef, user_id=ids, name=st.none() | one_line()),
)
channels = st.one_of(
    st.builds(ChannelRef, name=one_line()),
    st.builds(ChannelRef, channel_id=ids, name=st.none() | one_line()),
)
tags = st.text(min_size=1, max_size=30).map(lambda raw: normalize_tag(raw) or "").filter(bool)
days = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


def person_key(person: PersonRef) -> str:
    return f"id:{person.user_id}" if person.user_id else f"name:{(person.name or '').casefold()}"


def channel_key(channel: ChannelRef) -> str:
    return f"id:{channel.channel_id}" if channel.channel_id else f"name:{(channel.name or '').casefold()}"


@st.composite
def queries(draw: st.DrawFn) -> Query:
    start = draw(st.none() | days)
    end = draw(st.none() | days)
    if start is not None and end is not None and start >= end:
        start, end = end, start + timedelta(days=1)
    who = tuple(draw(st.lists(people, max_size=3, unique_by=person_key)))
    return Query(
        words=tuple(draw(st.lists(one_line(), max_size=3, unique_by=str.casefold))),
        people=who,
        tags=tuple(draw(st.lists(tags, max_size=3, unique=True))),
        channels=tuple(draw(st.lists(channels, max_size=2, unique_by=channel_key))),
        uploaders=tuple(draw(st.lists(people, max_size=2, unique_by=person_key))),
        start=start,
        end=end,
        media_type=draw(st.sampled_from([None, "photo", "video"])),
        has_faces=draw(st.booleans()),
        has_unknown=draw(st.booleans()),
        pending=draw(st.booleans()),
        include_suggested=bool(who) and draw(st.booleans()),
    )


@given(queries())
def test_query_round_trips_through_text(query: Query) -> None:
    text = format_query(query)
    assert parse(text) == query
    assert len(describe(query).splitlines()) == 1


@given(queries(), st.randoms(use_true_random=False))
def test_term_order_does_not_matter_across_kinds(query: Query, random: Random) -> None:
    terms = list(terms_of(query))
    random.shuffle(terms)
    parsed = parse(" ".join(terms))
    assert set(parsed.words) == set(query.words)
    assert set(parsed.people) == set(query.people)
    assert set(parsed.tags) == set(query.tags)
    assert set(parsed.channels) == set(query.channels)
    assert set(parsed.uploaders) == set(query.uploaders)
    assert (parsed.start, parsed.end, parsed.media_type) == (query.start, query.end, query.media_type)
    flags = ("has_faces", "has_unknown", "pending", "include_suggested")
    assert [getattr(parsed, f) for f in flags] == [getattr(query, f) for f in flags]


# --------------------------------------------------------------------------------------- cursors

media_ids = st.one_of(st.integers(min_value=0, max_value=2**63 - 1), st.text(min_size=1, max_size=128))
moments = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.timezones() | st.just(UTC)
)


@given(moments, media_ids)
def test_cursor_round_trip(sort_at: datetime, media_id: int | str) -> None:
    token = encode_cursor(sort_at, media_id)
    assert token
    assert all(char in string.ascii_letters + string.digits + "-_" for char in token)
    cursor = decode_cursor(token)
    assert cursor == Cursor(sort_at.astimezone(UTC), media_id)
    assert cursor.sort_at.timestamp() == sort_at.timestamp()
    assert cursor.sort_at.tzinfo is UTC


def test_cursor_naive_is_utc_and_order_is_kept() -> None:
    naive = datetime(2024, 5, 17, 12, 30, 1, 123456)
    assert decode_cursor(encode_cursor(naive, "m-1")).sort_at == naive.replace(tzinfo=UTC)
    with pytest.raises(TypeError):
        encode_cursor(naive, True)
    for bad in (-1, 2**63, "", "x" * 129):
        with pytest.raises(ValueError, match="media_id"):
            encode_cursor(naive, bad)


def b64(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!",
        "a",
        "not a cursor",
        "x" * 1000,
        b64({"t": 1, "i": 2}),
        b64([2, 0, 1]),
        b64([True, 0, 1]),
        b64([1, 0.5, 1]),
        b64([1, 0, True]),
        b64([1, 0, -1]),
        b64([1, 0, 2**63]),
        b64([1, 0, ""]),
        b64([1, 0, None]),
        b64([1, 0, "x" * 129]),
        b64([1, 10**30, 1]),
        b64([1, 0]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        encode_cursor(datetime(2024, 1, 1, tzinfo=UTC), 1) + "$",
    ],
)
def test_cursor_garbage_is_rejected(token: str) -> None:
    with pytest.raises(QueryError) as info:
        decode_cursor(token)
    assert len(str(info.value).splitlines()) == 1


@given(st.text() | st.text(string.ascii_letters + string.digits + "-_"))
def test_cursor_decode_never_crashes(token: str) -> None:
    try:
        cursor = decode_cursor(token)
    except QueryError:
        return
    assert isinstance(cursor, Cursor)
