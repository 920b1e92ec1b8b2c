"""Tag normalisation and hashtag extraction from chat messages.

A tag is stored and compared in one canonical form: NFKC-normalised, case-folded, without the
leading ``#``, made only of letters, marks, digits (any script), ``_`` and ``-``, at most
`MAX_TAG_LENGTH` characters. ``#Offsite``, ``offsite``, ``ＯＦＦＳＩＴＥ`` (full width) all become
``offsite``.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_TAG_LENGTH", "hashtags_in", "normalize_tag"]

MAX_TAG_LENGTH = 64

_FOLD_ROUNDS = 4


def _fold(text: str) -> str:
    """NFKC + casefold, repeated until stable (casefold output is not always NFKC-normal)."""
    for _ in range(_FOLD_ROUNDS):
        folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
        if folded == text:
            break
        text = folded
    return text


def _is_tag_char(char: str) -> bool:
    return char in "_-" or unicodedata.category(char)[0] in "LMN"


def normalize_tag(raw: str) -> str | None:
    """The canonical form of a tag, or None if `raw` is empty or not a valid tag.

    Leading ``#`` (also full-width ``＃``) and surrounding whitespace are dropped. The result is
    idempotent: ``normalize_tag(t) == t`` for every ``t`` this returns.
    """
    text = _fold(raw).strip().lstrip("#")
    if not text or len(text) > MAX_TAG_LENGTH:
        return None
    if unicodedata.category(text[0])[0] == "M":  # a combining mark cannot start a tag
        return None
    if not all(_is_tag_char(char) for char in text):
        return None
    if _fold(text) != text:  # stripping exposed a non-normal boundary; refuse rather than drift
        return None
    return text


# What is *not* prose, removed before looking for hashtags.
_CODE_BLOCK = re.compile(r"```.*?```", re.DOTALL)
_CODE_SPAN = re.compile(r"`[^`\n]+`")
# Slack entities (<#C123|general>, <@U1>, <!here>, <http://x/#a|label>) and HTML tags (Teams).
_ENTITY = re.compile(r"<[^<>]*>")
_URL = re.compile(r"(?:\b[A-Za-z][A-Za-z0-9+.\-]*://|\bwww\.)\S*")
# A '#' glued to a word, a path, an HTML entity (&#39;) or another '#' does not start a hashtag.
_NOT_BEFORE_HASH = frozenset("&#/\\@`")


def hashtags_in(text: str) -> list[str]:
    """Normalised hashtags in a chat message, first occurrence order, without duplicates.

    Ignores Slack channel references and other ``<...>`` entities, URLs (``http://x/#a``), code
    spans and code blocks, and ``#`` glued to a preceding word (``C#``, ``page#3``).
    """
    text = unicodedata.normalize("NFKC", text)
    for pattern in (_CODE_BLOCK, _CODE_SPAN, _ENTITY, _URL):
        text = pattern.sub(" ", text)
    found: list[str] = []
    seen: set[str] = set()
    i = 0
    while (i := text.find("#", i)) != -1:
        start = i + 1
        if i > 0:
            before = text[i - 1]
            if before in _NOT_BEFORE_HASH or (before not in "_-" and _is_tag_char(before)):
                i = start
                continue
        end = start
        while end < len(text) and _is_tag_char(text[end]):
            end += 1
        i = end if end > start else start
        tag = normalize_tag(text[start:end].rstrip("_-"))
        if tag is not None and tag not in seen:
            seen.add(tag)
            found.append(tag)
    return found
