"""The ``/photos`` query language: parse, describe, render back, and page with keyset cursors.

All terms are ANDed. An empty query means every media the asker may see, newest first.

Dates are calendar dates; the caller picks the time zone (see `Query.time_range`). ``after:`` and
``before:`` are *exclusive*, like Slack's own search: ``after:2024-05-10`` starts on 2024-05-11,
``after:2024-05`` starts on 2024-06-01, ``before:2024-05`` ends with 2024-04-30. ``on:`` covers
the whole day or month. They combine as an intersection, kept in `Query.start` (inclusive) and
`Query.end` (exclusive).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import difflib
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final, Literal

from handlers.tags import normalize_tag

__all__ = [
    "COMMAND",
    "HELP_TEXT",
    "MAX_QUERY_LENGTH",
    "MAX_TERMS",
    "ChannelRef",
    "Cursor",
    "MediaType",
    "PersonRef",
    "Query",
    "QueryError",
    "decode_cursor",
    "describe",
    "encode_cursor",
    "format_query",
    "is_help",
    "parse",
    "terms_of",
]

COMMAND: Final = "/photos"
MAX_QUERY_LENGTH: Final = 1000
MAX_TERMS: Final = 40

type MediaType = Literal["photo", "video"]


class QueryError(ValueError):
    """The query cannot be understood. ``str(error)`` is one line: the problem, then an example."""

    def __init__(self, problem: str, example: str = "@alice #offsite after:2024-05") -> None:
        self.problem = _one_line(problem)
        self.example = _one_line(example)
        super().__init__(f"{self.problem}. Try: {COMMAND} {self.example}")


@dataclass(frozen=True, slots=True)
class PersonRef:
    """A person: a platform user id (authoritative when set) and/or a name (as typed)."""

    user_id: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        if self.name:
            return f"@{self.name}"
        return f"<@{self.user_id}>"


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """A channel: a platform channel id (authoritative when set) and/or a name (as typed)."""

    channel_id: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        if self.name:
            return f"#{self.name}"
        return f"<#{self.channel_id}>"


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed ``/photos`` query. Every field narrows the result; defaults mean "no filter"."""

    words: tuple[str, ...] = ()  # words/phrases matched in tags, message text and file names
    people: tuple[PersonRef, ...] = ()  # confirmed in the media (or suggested: include_suggested)
    tags: tuple[str, ...] = ()  # normalised, see handlers.tags.normalize_tag
    channels: tuple[ChannelRef, ...] = ()  # shared in
    uploaders: tuple[PersonRef, ...] = ()  # shared by
    start: date | None = None  # inclusive
    end: date | None = None  # exclusive
    media_type: MediaType | None = None
    has_faces: bool = False
    has_unknown: bool = False  # at least one face nobody is confirmed for
    pending: bool = False  # awaiting approval
    include_suggested: bool = False  # person terms also match unconfirmed suggestions

    @property
    def is_empty(self) -> bool:
        """True for the query that lists everything visible, newest first."""
        return self == Query()

    def time_range(self, tz: tzinfo) -> tuple[datetime | None, datetime | None]:
        """`start`/`end` as aware datetimes at midnight in `tz` (start inclusive, end exclusive)."""
        start = datetime.combine(self.start, time(), tz) if self.start else None
        end = datetime.combine(self.end, time(), tz) if self.end else None
        return start, end


# --------------------------------------------------------------------------------------- parsing

_OPEN_QUOTES: Final = frozenset('"“”„')
_CLOSE_QUOTES: Final = frozenset('"“”')
# Slack entities: mentions, channel refs, special mentions, links. Anything else '<' is a character.
_ENTITY_START = re.compile(r"<(?:[@#!]|[A-Za-z][A-Za-z0-9+.\-]*:)[^<>]*>")
_USER_MENTION = re.compile(r"<@([A-Za-z0-9._:\-]+)(?:\|([^<>|]*))?>")
_CHANNEL_REF = re.compile(r"<#([A-Za-z0-9._:\-]+)(?:\|([^<>|]*))?>")
_LINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]*:[^<>|\s]*)(?:\|[^<>]*)?>")
_PREFIX = re.compile(r"([A-Za-z][A-Za-z_\-]*):(?!//)")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})(?:-([0-9]{2}))?")
_TRAILING_PUNCT = ",;.!?"

_EXAMPLES: Final[dict[str, str]] = {
    "in": "in:#general",
    "from": "from:@bob",
    "after": "after:2024-05",
    "before": "before:2024-06-30",
    "on": "on:2024-05-17",
    "type": "type:video",
    "has": "has:faces",
    "is": "is:pending",
}
_TYPES: Final[dict[str, MediaType]] = {
    "photo": "photo",
    "photos": "photo",
    "image": "photo",
    "images": "photo",
    "picture": "photo",
    "pictures": "photo",
    "video": "video",
    "videos": "video",
    "movie": "video",
    "movies": "video",
}
_HAS: Final[dict[str, str]] = {"faces": "faces", "face": "faces", "unknown": "unknown", "unknowns": "unknown"}
_IS: Final[dict[str, str]] = {
    "pending": "pending",
    "suggested": "suggested",
    "suggestion": "suggested",
    "suggestions": "suggested",
}
_HELP_WORDS: Final = frozenset({"help", "?", "-h", "--help", "-help"})


def _one_line(text: str) -> str:
    """Whitespace and control characters collapsed to single spaces (safe on one chat line)."""
    cleaned = "".join(
        " " if char.isspace() or unicodedata.category(char) in ("Cc", "Zl", "Zp") else char for char in text
    )
    return " ".join(cleaned.split())


def _quote(text: str, limit: int = 40) -> str:
    """A user snippet for an error message, one line and bounded."""
    text = _one_line(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f'"{text}"'


@dataclass(frozen=True, slots=True)
class _Token:
    text: str  # quotes removed, entities kept
    raw: str  # as typed, for messages
    quoted_from: int | None  # index in `text` where quoted content begins


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        parts: list[str] = []
        length = 0
        quoted_from: int | None = None
        while i < n and not text[i].isspace():
            char = text[i]
            if char in _OPEN_QUOTES:
                close = next((j for j in range(i + 1, n) if text[j] in _CLOSE_QUOTES), -1)
                if close == -1:
                    raise QueryError(
                        f"Missing closing quote after {_quote(text[i + 1 :])}", '"team dinner" #offsite'
                    )
                if quoted_from is None:
                    quoted_from = length
                piece = text[i + 1 : close]
                i = close + 1
            elif char == "<" and (entity := _ENTITY_START.match(text, i)):
                piece = entity.group()
                i = entity.end()
            else:
                piece = char
                i += 1
            parts.append(piece)
            length += len(piece)
        tokens.append(_Token("".join(parts), text[start:i], quoted_from))
    return tokens


def _unescape(text: str) -> str:
    """Undo Slack's escaping of &, < and > in message text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _clean_value(value: str, quoted: bool) -> str:
    value = _one_line(_unescape(value))
    return value if quoted else value.rstrip(_TRAILING_PUNCT)


def _entity(text: str) -> re.Match[str] | None:
    """A whole-token Slack entity, allowing trailing punctuation (``<@U1>,``)."""
    stripped = text.rstrip(_TRAILING_PUNCT)
    for pattern in (_USER_MENTION, _CHANNEL_REF, _LINK):
        if match := pattern.fullmatch(stripped):
            return match
    return None


def _person(value: str, quoted_at: int | None, raw: str, example: str) -> PersonRef:
    """`quoted_at`: where quoted text begins in `value` (None: nothing quoted)."""
    quoted = quoted_at is not None
    if not quoted and value.startswith("<"):
        match = _entity(value)
        if match is None or match.re is not _USER_MENTION:
            raise QueryError(f"{_quote(raw)} is not a person", example)
        return PersonRef(user_id=match.group(1), name=_clean_value(match.group(2) or "", True) or None)
    if value.startswith("@") and quoted_at != 0:
        value = value[1:]
    name = _clean_value(value, quoted)
    if not name:
        raise QueryError(f"{_quote(raw)} needs a name after the @", example)
    return PersonRef(name=name)


def _channel(value: str, quoted_at: int | None, raw: str) -> ChannelRef:
    example = _EXAMPLES["in"]
    quoted = quoted_at is not None
    if not quoted and value.startswith("<"):
        match = _entity(value)
        if match is None or match.re is not _CHANNEL_REF:
            raise QueryError(f"{_quote(raw)} is not a channel", example)
        return ChannelRef(channel_id=match.group(1), name=_clean_value(match.group(2) or "", True) or None)
    if value.startswith("#") and quoted_at != 0:
        value = value[1:]
    name = _clean_value(value, quoted)
    if not name:
        raise QueryError(f"{_quote(raw)} needs a channel name", example)
    return ChannelRef(name=name)


def _period(value: str, raw: str, prefix: str) -> tuple[date, date | None]:
    """The [first day, day after the last) of a YYYY-MM-DD or YYYY-MM; None end = past date.max."""
    example = _EXAMPLES[prefix]
    match = _DATE.fullmatch(value)
    if match is None:
        raise QueryError(f"{_quote(raw)} needs a date as YYYY-MM-DD or YYYY-MM", example)
    year, month = int(match.group(1)), int(match.group(2))
    try:
        if match.group(3) is None:
            first = date(year, month, 1)
            last = date(year, month, calendar.monthrange(year, month)[1])
        else:
            first = last = date(year, month, int(match.group(3)))
    except ValueError:
        raise QueryError(f"{_quote(value)} is not a real date", example) from None
    return first, (last + timedelta(days=1) if last < date.max else None)


def is_help(text: str) -> bool:
    """True when the text asks for `HELP_TEXT` (``help``, ``?``, ``--help``)."""
    return text.strip().casefold() in _HELP_WORDS


def parse(text: str) -> Query:
    """Parse ``/photos`` text into a `Query`; raise `QueryError` (one-line message) if it is wrong."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"The query is too long (at most {MAX_QUERY_LENGTH} characters)")
    tokens = _tokens(text)
    if len(tokens) > MAX_TERMS:
        raise QueryError(f"The query has too many terms (at most {MAX_TERMS})")

    words: list[str] = []
    people: list[PersonRef] = []
    tags: list[str] = []
    channels: list[ChannelRef] = []
    uploaders: list[PersonRef] = []
    media_type: MediaType | None = None
    flags: set[str] = set()
    seen_exclusive: dict[str, str] = {}  # prefix -> raw term
    lower: tuple[date, str] | None = None  # (inclusive bound, raw term)
    upper: tuple[date, str] | None = None  # (exclusive bound, raw term)

    def exclusive(prefix: str, raw: str) -> None:
        if prefix in seen_exclusive:
            raise QueryError(
                f"Only one {prefix}: is allowed, got {_quote(seen_exclusive[prefix])} and {_quote(raw)}",
                _EXAMPLES[prefix],
            )
        seen_exclusive[prefix] = raw

    def narrow(new_lower: date | None, new_upper: date | None, raw: str) -> None:
        nonlocal lower, upper
        if new_lower is not None and (lower is None or new_lower > lower[0]):
            lower = (new_lower, raw)
        if new_upper is not None and (upper is None or new_upper < upper[0]):
            upper = (new_upper, raw)

    for token in tokens:
        text_, raw, quoted_from = token.text, token.raw, token.quoted_from
        if quoted_from == 0:  # "a phrase"
            if phrase := _one_line(_unescape(text_)):
                words.append(phrase)
            continue
        head = text_ if quoted_from is None else text_[:quoted_from]

        if head.startswith("<"):
            match = _entity(text_) if quoted_from is None else None
            if match is None:
                if text_.startswith("<!"):
                    raise QueryError("Group mentions like @here or @channel can't be searched")
                raise QueryError(f"Couldn't read {_quote(raw)}")
            if match.re is _USER_MENTION:
                people.append(_person(text_, None, raw, "@alice"))
            elif match.re is _CHANNEL_REF:
                channels.append(_channel(text_, None, raw))
            elif link := _one_line(match.group(1)):
                words.append(link)
            continue
        if head.startswith("@"):
            people.append(_person(text_[1:], None if quoted_from is None else quoted_from - 1, raw, "@alice"))
            continue
        if head.startswith("#"):
            tag = normalize_tag(text_ if quoted_from is not None else text_.rstrip(_TRAILING_PUNCT))
            if tag is None:
                raise QueryError(
                    f"{_quote(raw)} is not a valid tag (letters, digits, _ and - only, at most 64)",
                    "#offsite #team-2024",
                )
            tags.append(tag)
            continue
        if head.startswith("-") and len(head) > 1 and (head[1] in "#@<" or _PREFIX.match(head, 1)):
            raise QueryError(f"Excluding with - isn't supported ({_quote(raw)})")

        prefix_match = _PREFIX.match(head)
        if prefix_match is None:
            if word := _one_line(_unescape(text_)):
                words.append(word)
            continue
        prefix = prefix_match.group(1).casefold()
        value = text_[prefix_match.end() :]
        quoted_at = None if quoted_from is None else quoted_from - prefix_match.end()
        if prefix not in _EXAMPLES:
            close = difflib.get_close_matches(prefix, list(_EXAMPLES), n=1, cutoff=0.6)
            hint = f' (did you mean "{close[0]}:"?)' if close else ""
            raise QueryError(
                f"Unknown filter {_quote(prefix_match.group(0))}{hint}",
                _EXAMPLES[close[0]] if close else "@alice #offsite after:2024-05",
            )
        if not value:
            raise QueryError(f'"{prefix}:" needs a value', _EXAMPLES[prefix])
        keyword = value.casefold()

        if prefix == "in":
            channels.append(_channel(value, quoted_at, raw))
        elif prefix == "from":
            uploaders.append(_person(value, quoted_at, raw, _EXAMPLES["from"]))
        elif prefix in ("after", "before", "on"):
            exclusive(prefix, raw)
            first, after_last = _period(value.strip(), raw, prefix)
            if prefix == "after":
                if after_last is None:
                    raise QueryError(f"Nothing can be {_quote(raw)}", _EXAMPLES["after"])
                narrow(after_last, None, raw)
            elif prefix == "before":
                narrow(None, first, raw)
            else:
                narrow(first, after_last, raw)
        elif prefix == "type":
            exclusive(prefix, raw)
            if keyword not in _TYPES:
                raise QueryError(f"{_quote(raw)}: the type is photo or video", "type:photo")
            media_type = _TYPES[keyword]
        elif prefix == "has":
            if keyword not in _HAS:
                raise QueryError(f"{_quote(raw)}: use has:faces or has:unknown", "has:unknown")
            flags.add(_HAS[keyword])
        else:  # is:
            if keyword not in _IS:
                raise QueryError(f"{_quote(raw)}: use is:pending or is:suggested", "is:pending")
            flags.add(_IS[keyword])

    if lower is not None and upper is not None and lower[0] >= upper[0]:
        raise QueryError(
            f"No date matches both {_quote(lower[1])} and {_quote(upper[1])}",
            "after:2024-04 before:2024-07",
        )
    if "suggested" in flags and not people:
        raise QueryError("is:suggested needs a person to suggest", "@alice is:suggested")

    return Query(
        words=_dedupe(words, str.casefold),
        people=_dedupe(people, _person_key),
        tags=_dedupe(tags, str),
        channels=_dedupe(channels, _channel_key),
        uploaders=_dedupe(uploaders, _person_key),
        start=lower[0] if lower else None,
        end=upper[0] if upper else None,
        media_type=media_type,
        has_faces="faces" in flags,
        has_unknown="unknown" in flags,
        pending="pending" in flags,
        include_suggested="suggested" in flags,
    )


def _person_key(person: PersonRef) -> str:
    return f"id:{person.user_id}" if person.user_id else f"name:{(person.name or '').casefold()}"


def _channel_key(channel: ChannelRef) -> str:
    return f"id:{channel.channel_id}" if channel.channel_id else f"name:{(channel.name or '').casefold()}"


def _dedupe[T](items: list[T], key: Callable[[T], object]) -> tuple[T, ...]:
    seen: set[object] = set()
    out: list[T] = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return tuple(out)


# ------------------------------------------------------------------------- rendering / describing


def _quote_if_needed(value: str) -> str:
    if (
        not value
        or any(char.isspace() or char in '"“”„<>' for char in value)
        or value[0] in "@#"
        or value[-1] in _TRAILING_PUNCT
    ):
        return _quoted(value)
    return value


def _quoted(value: str) -> str:
    """`value` in double quotes; quote marks inside cannot be written and are dropped."""
    return '"' + "".join(char for char in value if char not in _CLOSE_QUOTES) + '"'


def _format_person(person: PersonRef, prefix: str) -> str:
    if person.user_id:
        return f"{prefix}<@{person.user_id}{'|' + person.name if person.name else ''}>"
    return f"{prefix}@{_quote_if_needed(person.name or '')}"


def _format_channel(channel: ChannelRef) -> str:
    if channel.channel_id:
        return f"in:<#{channel.channel_id}{'|' + channel.name if channel.name else ''}>"
    return f"in:#{_quote_if_needed(channel.name or '')}"


def _format_word(word: str) -> str:
    plain = (
        not any(char.isspace() for char in word)
        and word[0] not in "@#<-"
        and not any(char in '"“”„' for char in word)
        and _PREFIX.match(word) is None
        and word.casefold() not in _HELP_WORDS
    )
    return word if plain else _quoted(word)


def _month_end(first: date) -> date | None:
    return (
        date(first.year + first.month // 12, first.month % 12 + 1, 1) if first < date(9999, 12, 1) else None
    )


def format_query(query: Query) -> str:
    """Query text that `parse` turns back into `query` (e.g. for "next page" buttons).

    Words or names containing a double quote cannot be written back exactly; a `start` of
    `date.min` is dropped (it cannot be expressed with the exclusive ``after:``).
    """
    return " ".join(terms_of(query))


def terms_of(query: Query) -> tuple[str, ...]:
    """The terms of `format_query`, one per filter (e.g. to offer "remove this filter")."""
    terms: list[str] = [_format_word(word) for word in query.words]
    terms += [_format_person(person, "") for person in query.people]
    terms += [f"#{tag}" for tag in query.tags]
    terms += [_format_channel(channel) for channel in query.channels]
    terms += [_format_person(person, "from:") for person in query.uploaders]
    start, end = query.start, query.end
    if start is not None and end is not None and end == start + timedelta(days=1):
        terms.append(f"on:{start.isoformat()}")
    elif start is not None and start.day == 1 and end is not None and end == _month_end(start):
        terms.append(f"on:{start.year:04d}-{start.month:02d}")
    else:
        if start is not None and start > date.min:
            terms.append(f"after:{(start - timedelta(days=1)).isoformat()}")
        if end is not None:
            terms.append(f"before:{end.isoformat()}")
    if query.media_type:
        terms.append(f"type:{query.media_type}")
    for flag, term in (
        (query.has_faces, "has:faces"),
        (query.has_unknown, "has:unknown"),
        (query.pending, "is:pending"),
        (query.include_suggested, "is:suggested"),
    ):
        if flag:
            terms.append(term)
    return tuple(terms)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _describe_dates(start: date | None, end: date | None) -> str | None:
    if start is not None and end is not None:
        last = end - timedelta(days=1)
        if start == last:
            return f"on {start.isoformat()}"
        if start.day == 1 and end == _month_end(start):
            return f"in {calendar.month_name[start.month]} {start.year}"
        return f"from {start.isoformat()} to {last.isoformat()}"
    if start is not None:
        return f"since {start.isoformat()}"
    if end is not None:
        return f"before {end.isoformat()}"
    return None


def describe(query: Query) -> str:
    """A short human summary, e.g. ``photos of @alice tagged #offsite since 2024-05-01``."""
    if query.pending:
        noun = {"photo": "pending photos", "video": "pending videos", None: "pending photos and videos"}
    else:
        noun = {"photo": "photos", "video": "videos", None: "photos and videos"}
    parts = [noun[query.media_type]]
    if query.people:
        who = _and([str(person) for person in query.people])
        parts.append(f"of {who}" + (" (including suggestions)" if query.include_suggested else ""))
    if query.has_unknown:
        parts.append("with unrecognised faces")
    elif query.has_faces:
        parts.append("with faces")
    if query.tags:
        parts.append("tagged " + _and([f"#{tag}" for tag in query.tags]))
    if query.words:
        parts.append("matching " + _and([f'"{word}"' for word in query.words]))
    if query.channels:
        parts.append("in " + _and([str(channel) for channel in query.channels]))
    if query.uploaders:
        parts.append("shared by " + _and([str(person) for person in query.uploaders]))
    if dates := _describe_dates(query.start, query.end):
        parts.append(dates)
    if query.is_empty:
        return "all photos and videos, newest first"
    return _one_line(" ".join(parts))


HELP_TEXT: Final = f"""\
`{COMMAND}` finds shared photos and videos. All terms must match; newest first.

• `{COMMAND}` with nothing else: everything you can see
• words: `beach` or `"team dinner"` match tags, message text and file names
• people: `@alice`, `@"Alice Smith"` or a mention - photos where they are confirmed
• `@alice is:suggested` - also photos where she is only suggested, not confirmed yet
• tags: `#offsite #team-2024`
• channel: `in:#general` or a channel link
• shared by: `from:@bob`
• dates (YYYY-MM-DD or YYYY-MM): `on:2024-05-17`, `on:2024-05` (whole month), \
`after:2024-05` (from June on), `before:2024-05-10` (up to May 9). after/before leave the date out.
• kind: `type:photo` or `type:video`
• faces: `has:faces`, `has:unknown` (someone not recognised yet)
• `is:pending` - still waiting for approval

Example: `{COMMAND} @alice #offsite after:2024-04 type:photo`
"""


# --------------------------------------------------------------------------------------- cursors

_CURSOR_VERSION: Final = 1
_MAX_CURSOR_LENGTH: Final = 1024  # fits a Slack button value (2000) with room to spare
_MAX_ID_LENGTH: Final = 128
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]+")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Cursor:
    """A keyset position: the last row shown, by (sort timestamp, media id), newest first."""

    sort_at: datetime  # aware, UTC
    media_id: int | str


def _bad_cursor() -> QueryError:
    return QueryError("That page link is broken or too old; run the search again", "@alice #offsite")


def encode_cursor(sort_at: datetime, media_id: int | str) -> str:
    """An opaque url-safe string for (sort_at, media_id). A naive `sort_at` is taken as UTC."""
    if sort_at.tzinfo is None:
        sort_at = sort_at.replace(tzinfo=UTC)
    sort_at = sort_at.astimezone(UTC)  # OverflowError if it falls outside datetime's range in UTC
    if isinstance(media_id, bool) or not isinstance(media_id, int | str):
        raise TypeError("media_id must be int or str")
    if not _valid_media_id(media_id):
        raise ValueError(f"media_id must be an int in [0, 2**63) or a str of 1..{_MAX_ID_LENGTH} characters")
    micros = (sort_at - _EPOCH) // timedelta(microseconds=1)
    payload = json.dumps([_CURSOR_VERSION, micros, media_id], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(payload.encode("utf-8", "surrogatepass")).decode("ascii").rstrip("=")


def _valid_media_id(media_id: object) -> bool:
    if type(media_id) is int:
        return 0 <= media_id < 2**63
    return type(media_id) is str and 0 < len(media_id) <= _MAX_ID_LENGTH


def decode_cursor(token: str) -> Cursor:
    """The position `encode_cursor` wrote; `QueryError` for anything else."""
    if not isinstance(token, str) or len(token) > _MAX_CURSOR_LENGTH or not _CURSOR_CHARS.fullmatch(token):
        raise _bad_cursor()
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
        value = json.loads(raw.decode("utf-8", "surrogatepass"))
    except (binascii.Error, ValueError, RecursionError):
        raise _bad_cursor() from None
    if not (
        isinstance(value, list) and len(value) == 3 and type(value[0]) is int and value[0] == _CURSOR_VERSION
    ):
        raise _bad_cursor()
    _, micros, media_id = value
    if type(micros) is not int:
        raise _bad_cursor()
    if not _valid_media_id(media_id):
        raise _bad_cursor()
    try:
        sort_at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise _bad_cursor() from None
    return Cursor(sort_at, media_id)
