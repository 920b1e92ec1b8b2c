"""Tag normalisation and hashtag extraction."""

from __future__ import annotations

import string
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.tags import MAX_TAG_LENGTH, hashtags_in, normalize_tag

TAG_ASCII = string.ascii_letters + string.digits + "_-"


def fullwidth(text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char for char in text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("offsite", "offsite"),
        ("#Offsite", "offsite"),
        ("  #TEAM-2024 ", "team-2024"),
        ("##twice", "twice"),
        ("snake_case", "snake_case"),
        ("Straße", "strasse"),
        ("ﬁeld", "field"),
        ("ＯＦＦＳＩＴＥ", "offsite"),
        ("＃ｔａｇ", "tag"),
        ("東京", "東京"),
        ("Café", "café"),
        ("Cafe\u0301", "café"),  # decomposed é composes under NFKC
        ("नमस्ते", "नमस्ते"),  # combining marks inside a word are letters of the script
        ("Ελλάδα", "ελλάδα"),
        ("2024", "2024"),
        ("²", "2"),
        ("a" * MAX_TAG_LENGTH, "a" * MAX_TAG_LENGTH),
    ],
)
def test_normalize_tag_examples(raw: str, expected: str) -> None:
    assert normalize_tag(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "#",
        "   ",
        "##",
        "two words",
        "tab\tbed",
        "dot.ted",
        "emoji🎉",
        "semi;colon",
        "\u0301acute",
        "a" * 65,
    ],
)
def test_normalize_tag_rejects(raw: str) -> None:
    assert normalize_tag(raw) is None


@given(st.text())
def test_normalize_tag_is_idempotent(raw: str) -> None:
    tag = normalize_tag(raw)
    if tag is not None:
        assert normalize_tag(tag) == tag
        assert normalize_tag("#" + tag) == tag
        assert 0 < len(tag) <= MAX_TAG_LENGTH
        assert not tag.startswith("#")


@given(st.text())
def test_normalize_tag_is_stable_under_unicode_normal_forms(raw: str) -> None:
    expected = normalize_tag(raw)
    for form in ("NFC", "NFD", "NFKC", "NFKD"):
        assert normalize_tag(unicodedata.normalize(form, raw)) == expected


@given(st.text(alphabet=TAG_ASCII + "ßàéñøæçÀÉÑØÆÇΑΒΓΔαβγδσςАБВабв", min_size=1))
def test_normalize_tag_ignores_case(raw: str) -> None:
    assert normalize_tag(raw.upper()) == normalize_tag(raw.lower()) == normalize_tag(raw.swapcase())


@given(st.text(alphabet=TAG_ASCII, min_size=1, max_size=MAX_TAG_LENGTH))
def test_fullwidth_and_ligatures_are_equivalent(raw: str) -> None:
    assert normalize_tag(fullwidth(raw)) == normalize_tag(raw) == raw.lower()
    assert normalize_tag(raw.replace("fi", "ﬁ")) == normalize_tag(raw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Great day #Offsite #team-2024 #offsite!", ["offsite", "team-2024"]),
        ("posted in <#C123|general> and <#C456> #real", ["real"]),
        ("see http://x.example/#a and https://y.example/p#b then #c", ["c"]),
        ("link <https://x.example/#frag|here> #ok", ["ok"]),
        ("www.example.com/#nope #yes", ["yes"]),
        ("`#code` and ```\n#block\n``` then #after", ["after"]),
        ("C# and F# are languages, page#3, &#39; #lang", ["lang"]),
        ("(#paren), #end. #q? _#italic_ *#bold*", ["paren", "end", "q", "italic", "bold"]),
        ("#東京 #Café #नमस्ते", ["東京", "café", "नमस्ते"]),
        ("＃ｆｕｌｌ ＃ＦＵＬＬ", ["full"]),
        ("<@U123> said #hi to <!here>", ["hi"]),
        ("<p>#teams</p>", ["teams"]),
        ("## heading #", []),
        ("#" + "a" * 65 + " #short", ["short"]),
        ("", []),
    ],
)
def test_hashtags_in_examples(text: str, expected: list[str]) -> None:
    assert hashtags_in(text) == expected


@given(st.text())
def test_hashtags_in_returns_unique_normalised_tags(text: str) -> None:
    tags = hashtags_in(text)
    assert len(tags) == len(set(tags))
    assert all(normalize_tag(tag) == tag for tag in tags)


@given(
    st.lists(
        st.text(alphabet=TAG_ASCII + "éßжあ", min_size=1, max_size=20).filter(lambda t: t[-1] not in "_-"),
        max_size=5,
    )
)
def test_hashtags_in_finds_written_tags(raw_tags: list[str]) -> None:
    text = "Look: " + " and ".join(f"#{tag}" for tag in raw_tags) + "!"
    expected: list[str] = []
    for raw in raw_tags:
        tag = normalize_tag(raw)
        assert tag is not None
        if tag not in expected:
            expected.append(tag)
    assert hashtags_in(text) == expected
