"""Shared tokens: keys folded from the search text, offsets into the display text."""

from __future__ import annotations

from processors.arabic import search_form
from processors.entities import tokenize, word_key
from processors.tokens import Tokens


def expected(text: str) -> list[tuple[str, int, int]]:
    return [(word_key(token), start, end) for token, start, end in tokenize(text)]


def found(tokens: Tokens) -> list[tuple[str, int, int]]:
    return [(key, *span) for key, span in zip(tokens.keys, tokens.spans, strict=True)]


def test_keys_from_the_search_text_are_the_tokens_folded_one_by_one(
    aleppo_display_text: str,
) -> None:
    tokens = Tokens.of(aleppo_display_text, search_form(aleppo_display_text))
    assert found(tokens) == expected(aleppo_display_text)


def test_diacritics_and_eastern_digits_fold_in_place() -> None:
    text = "قُتِل ١٬٥٠٠ شخصٍ في حلبَ"
    tokens = Tokens.of(text, search_form(text))
    assert tokens.keys == ["قتل", "1,500", "شخص", "في", "حلب"]
    assert tokens.word(1) == "١٬٥٠٠"


def test_a_lone_mark_that_makes_its_own_token_falls_back_to_folding_each_token() -> None:
    # A diacritic after a space is a token in the display text and nothing in
    # the search text: the two do not line up, each token is folded by itself.
    text = "قال \u064e الوزير إن"
    tokens = Tokens.of(text, search_form(text))
    assert found(tokens) == expected(text)


def test_without_a_search_text_the_tokens_fold_the_display_text() -> None:
    text = "أعلنت الوزارة أمس"
    assert found(Tokens.of(text)) == expected(text)
