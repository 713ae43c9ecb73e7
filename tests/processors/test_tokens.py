"""Shared tokens: keys folded from the search text, offsets into the display text."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from processors import tokens as tokens_module
from processors.arabic import search_form
from processors.entities import tokenize, word_key
from processors.tokens import Tokens, WordClass


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


def scanned(tokens: Tokens, test: Callable[[str], bool]) -> list[int]:
    return [i for i, key in enumerate(tokens.keys) if test(key)]


def test_where_finds_what_a_scan_finds_as_new_words_come() -> None:
    def longer_than_three(key: str) -> bool:
        return len(key) > 3

    for text in ("أعلنت الوزارة أمس", "قال الوزير إن الوزارة أعلنت خطة جديدة", "خطة"):
        tokens = Tokens.of(text)
        assert tokens.where(longer_than_three) == scanned(tokens, longer_than_three)


def test_a_word_class_past_its_limit_starts_afresh_and_still_judges_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tokens_module, "WORD_CLASS_LIMIT", 2)
    arabic_words = WordClass(str.isalpha)
    assert arabic_words.members(frozenset(("قال", "5", "الوزير", "أمس"))) == {
        "قال",
        "الوزير",
        "أمس",
    }
    assert arabic_words.members(frozenset(("غدا", "7"))) == {"غدا"}
    assert arabic_words._judged == {"غدا", "7"}  # what came before was forgotten
