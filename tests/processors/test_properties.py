"""Properties of normalization over any Unicode input (hypothesis)."""

from __future__ import annotations

import unicodedata

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from akhbar.article import Article
from processors.arabic import search_form
from processors.normalize import normalize

# Arabic letters, marks, digits and punctuation, mixed with everything else, so
# the Arabic repairs (quotes, splits, folding) run on most examples.
ARABIC_CHARS = st.characters(min_codepoint=0x0600, max_codepoint=0x06FF)
SPECIALS = st.sampled_from(list('¢"“”«» \n\t\u200f\u0640٫٬.؟،ﻻ²½０'))
TEXT = st.text(st.one_of(st.characters(), ARABIC_CHARS, SPECIALS), max_size=300)
# Real words joined, to drive the split-word repair too.
WORDS = st.lists(st.sampled_from(["الولايات", "المتحدة", "في", "حلب", "علي", "Kerry", "3٫5"]))
MIXED = st.one_of(TEXT, WORDS.map("".join), WORDS.map(" ".join))

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def run(text: str, title: str | None = None) -> Article:
    return normalize(Article.create("https://news.example/p", text=text, title=title))


def is_kept_letter(char: str) -> bool:
    """Letters normalization promises to keep: every letter outside the Arabic script."""
    return char.isalpha() and "ARABIC" not in unicodedata.name(char, "")


def kept(text: str) -> list[str]:
    """Digit values and non-Arabic letters of `text`, in order, compatibility-decomposed."""
    out = []
    for char in unicodedata.normalize("NFKD", text):
        if unicodedata.category(char) == "Nd":
            out.append(str(unicodedata.digit(char)))
        elif is_kept_letter(char):
            out.append(char)
    return out


def is_subsequence(needle: list[str], haystack: list[str]) -> bool:
    remaining = iter(haystack)
    return all(any(item == other for other in remaining) for item in needle)


def mojibake_repaired(article: Article) -> bool:
    return any(kind.startswith("mojibake") for kind in article.repairs or {})


@PROPERTY_SETTINGS
@given(MIXED, st.one_of(st.none(), MIXED))
def test_normalize_never_raises_and_fills_every_field(text: str, title: str | None) -> None:
    article = run(text, title)
    assert article.display_text is not None and article.search_text is not None
    assert (article.display_title is None) == (title is None)
    for span in article.sentences or []:
        assert 0 <= span.start < span.end <= len(article.display_text)


@PROPERTY_SETTINGS
@given(MIXED)
def test_normalize_is_idempotent(text: str) -> None:
    once = run(text)
    twice = run(once.display_text or "")
    assert twice.display_text == once.display_text
    assert search_form(once.search_text or "") == once.search_text


@PROPERTY_SETTINGS
@given(MIXED)
def test_no_digit_or_non_arabic_letter_is_lost(text: str) -> None:
    article = run(text)
    assume(not mojibake_repaired(article))  # a repair turns Latin-1 letters into Arabic
    assert is_subsequence(kept(text), kept(article.display_text or ""))
    assert is_subsequence(kept(text), kept(article.search_text or ""))
