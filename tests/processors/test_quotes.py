"""Quotes and their speakers on the real Aleppo article."""

from __future__ import annotations

import pytest

from processors.entities import EntityTagger
from processors.quotes import Quote, extract_quotes


@pytest.fixture(scope="module")
def aleppo_quotes(aleppo_display_text: str) -> list[Quote]:
    tagger = EntityTagger()
    entities = tagger.entities(aleppo_display_text)
    from processors.arabic import sentence_spans

    return extract_quotes(aleppo_display_text, entities, sentence_spans(aleppo_display_text))


def quote_starting(quotes: list[Quote], opening: str) -> Quote:
    return next(q for q in quotes if q.text.startswith(opening))


def test_the_quoted_words_go_to_the_general(aleppo_quotes: list[Quote]) -> None:
    quote = quote_starting(aleppo_quotes, "الوقت محدود جدا")
    assert (quote.speaker, quote.speaker_type) == ("زيد الصالح", "PERS")
    assert quote.text.endswith("إما الاستسلام أو الموت")


def test_reported_speech_goes_to_the_minister(aleppo_quotes: list[Quote]) -> None:
    quote = quote_starting(aleppo_quotes, "موسكو مستعدة")
    assert quote.speaker == "سيرجي لافروف"


def test_an_unnamed_source_is_a_speaker(aleppo_quotes: list[Quote]) -> None:
    quote = quote_starting(aleppo_quotes, "الجيش السوري سيطر")
    assert (quote.speaker, quote.speaker_type) == ("مصدر عسكري سوري", "source")


def test_a_quoted_name_is_not_a_quote(aleppo_quotes: list[Quote]) -> None:
    assert not any(q.text == "داعش" for q in aleppo_quotes)


def test_a_participle_speaks_for_the_person_just_named(aleppo_quotes: list[Quote]) -> None:
    quote = quote_starting(aleppo_quotes, "الهجوم الذي نفذه")
    assert quote.speaker == "سيرجي لافروف"


def test_a_participle_with_nobody_named_before_has_no_speaker(aleppo_quotes: list[Quote]) -> None:
    quote = quote_starting(aleppo_quotes, "لا تمانع")
    assert quote.speaker is None
