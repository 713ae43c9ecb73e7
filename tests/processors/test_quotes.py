"""Quotes and their speakers on the real Aleppo article."""

from __future__ import annotations

import pytest

from processors.entities import EntityTagger
from processors.quotes import Quote, extract_quotes


@pytest.fixture(scope="module")
def aleppo_quotes(aleppo_display_text: str) -> list[Quote]:
    from processors.arabic import sentence_spans

    # Entities tagged sentence by sentence, as the enrich step gives them to the quote finder.
    sentences = sentence_spans(aleppo_display_text)
    entities = EntityTagger().entities(aleppo_display_text, sentences)
    return extract_quotes(aleppo_display_text, entities, sentences)


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


def quotes_of(text: str) -> list[Quote]:
    from processors.arabic import sentence_spans

    sentences = sentence_spans(text)
    return extract_quotes(text, EntityTagger().entities(text, sentences), sentences)


# Real SaudiNewsNet sentences (benchmarks/labels/quotes.jsonl).
def test_an_untagged_subject_is_the_speaker() -> None:
    (quote,) = quotes_of(
        "قال صندوق النقد العربي: إن إنتاج النفط والغاز الصخريين غير مجد في الدول التي"
        " تعاني من شح في المياه."
    )
    assert quote.speaker == "صندوق النقد العربي"
    assert quote.text.startswith("إن إنتاج النفط")


def test_a_verb_without_a_subject_carries_on_the_last_speaker() -> None:
    found = quotes_of(
        "ونفى نتنياهو أن يكون سبب معارضته للاتفاق العلاقات المتوترة بينه وبين أوباما،"
        " وقال: «الخلافات بيننا حول إيران لم تكن شخصية أبدا»."
    )
    assert [q.speaker for q in found] == ["نتنياهو", "نتنياهو"]


def test_short_guillemets_nobody_speaks_are_names() -> None:
    text = "تحت شعار «فلسطين حرية وثقافة»، انطلقت فعاليات الملتقى الثقافي الفلسطيني السابع."
    assert quotes_of(text) == []


def test_guillemets_inside_reported_speech_are_one_quote() -> None:
    found = quotes_of(
        "وقالت وزارة الخارجية الامريكية في بيان ان قرارات مسؤولي الانتخابات في فنزويلا"
        " «من الواضح انها تنطلق من نية لتعقيد قدرة المعارضة» على المنافسة."
    )
    assert len(found) == 1 and found[0].text.startswith("قرارات مسؤولي")


def test_the_papers_own_aside_is_not_speech() -> None:
    text = "يذكر أن المملكة شهدت خلال الأيام الماضية تكرارا لحالات تحرش في الأماكن العامة."
    assert quotes_of(text) == []
