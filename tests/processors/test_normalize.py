"""The normalize step on real Arabic news text (tests/fixtures/aleppo-article.txt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from akhbar.article import Article
from processors.arabic import check_script, search_form, sentence_spans
from processors.normalize import normalize

FIXTURES = Path(__file__).parent.parent / "fixtures"
ALEPPO = (FIXTURES / "aleppo-article.txt").read_text(encoding="utf-8")


def normalized(text: str, title: str | None = None) -> Article:
    return normalize(Article.create("https://news.example/aleppo", text=text, title=title))


@pytest.fixture(scope="module")
def aleppo() -> Article:
    return normalized(ALEPPO, title="الجيش السوري يسيطر علي أحياء حلب")


def test_original_text_and_title_are_kept_exactly(aleppo: Article) -> None:
    assert aleppo.text == ALEPPO
    assert aleppo.title == "الجيش السوري يسيطر علي أحياء حلب"


def test_cent_signs_used_as_quotes_become_guillemets(aleppo: Article) -> None:
    assert "«الوقت محدود جدا. إما الاستسلام أو الموت»" in aleppo.display_text
    assert "ب«السخيفة»" in aleppo.display_text
    assert "«داعش»" in aleppo.display_text
    assert "¢" not in aleppo.display_text
    assert aleppo.repairs["quotes_unified"] == 5


def test_lone_cent_sign_is_a_cent_sign() -> None:
    article = normalized("سعر السهم 50¢ فقط في السوق اليوم")
    assert "50¢" in article.display_text


def test_words_run_together_are_split(aleppo: Article) -> None:
    assert "ودعا لافروف الولايات المتحدة إلي إقناع" in aleppo.display_text
    assert "الولاياتالمتحدة" not in aleppo.display_text
    assert aleppo.repairs["words_split"] == 2


def test_display_keeps_the_outlets_spelling(aleppo: Article) -> None:
    assert "بين قتلي وجرحي" in aleppo.display_text
    assert "علي عدة أحياء" in aleppo.display_text


def test_search_form_makes_colloquial_and_standard_spellings_match(aleppo: Article) -> None:
    assert search_form("علي") == search_form("على")
    assert search_form("قتلي وجرحي") == search_form("قتلى وجرحى")
    assert search_form("إلي") == search_form("إلى") == search_form("الى")
    assert "بين قتلي وجرحي" in aleppo.search_text
    assert search_form("الدفاع المدني عن انتشال الضحايا") in aleppo.search_text


def test_search_form_folds_diacritics_alef_teh_marbuta_and_digits() -> None:
    assert search_form("أَكَّدَ إِنَّ آلافَ") == "اكد ان الاف"
    assert search_form("مدينة تدمر") == "مدينه تدمر"
    assert search_form("٢٠١٦ و۱۳۹۵") == "2016 و1395"


def test_arabic_decimal_and_thousands_separators_survive() -> None:
    article = normalized("بلغ النمو ٣٫٥ في المئة من ١٢٬٥٠٠ مليون ريال")
    assert "٣٫٥" in article.display_text
    assert "١٢٬٥٠٠" in article.display_text
    assert "3.5" in article.search_text
    assert "12,500" in article.search_text


def test_latin_names_survive() -> None:
    article = normalized("قال وزير الخارجية Sergey Lavrov في مؤتمر صحفي مع John Kerry اليوم")
    assert "Sergey Lavrov" in article.display_text
    assert "Sergey Lavrov" in article.search_text
    assert "John Kerry" in article.search_text


def test_invisible_marks_tatweel_and_presentation_forms_are_cleaned() -> None:
    raw = "\u200fقال\u200e المتحـــدث: ﻻ   تراجع\u00a0عن\u200b القرار\u202c"
    article = normalized(raw)
    assert article.display_text == "قال المتحدث: لا تراجع عن القرار"


def test_superscripts_and_fractions_are_not_folded() -> None:
    article = normalized("مساحة 4 كم² أي نحو ½ المدينة")
    assert "كم²" in article.display_text
    assert "½" in article.display_text


def test_whitespace_and_lines_are_tidied() -> None:
    article = normalized("  سطر أول  \r\n\r\n\r\n\tسطر   ثان  ")
    assert article.display_text == "سطر أول\n\nسطر ثان"


def test_sentences_respect_quotes_and_arabic_punctuation(aleppo: Article) -> None:
    text = aleppo.display_text
    sentences = [text[s.start : s.end] for s in aleppo.sentences]
    assert "مؤكدا أن «الوقت محدود جدا. إما الاستسلام أو الموت»." in sentences
    assert sentences[0] == "بدأ الجيش السوري أمس عملية السيطرة البرية الواسعة علي عدة أحياء في حلب."
    assert sentence_spans("هل انتهت المعركة؟ لا أحد يعرف! قال د. أحمد ذلك") == [
        (0, 17),
        (18, 30),
        (31, 46),
    ]


def test_token_count_counts_words_and_numbers_not_punctuation() -> None:
    assert normalized("قتل 21 مدنيا، بينهم 5 أطفال.").token_count == 6


def test_script_check_marks_non_arabic_articles_and_leaves_them_intact() -> None:
    english = 'He said "the time is short" -- Lavrov.'
    article = normalized(english)
    assert (article.script, article.is_arabic) == ("Latn", False)
    assert article.display_text == english
    assert article.repairs == {}


def test_urdu_is_arabic_script_but_not_arabic() -> None:
    # A sentence in the style of the BBC Urdu feed (../shared/data/feeds/bbc-urdu.xml).
    urdu = "پاکستان کے وزیراعظم نے کہا ہے کہ ملک میں انتخابات وقت پر ہوں گے"
    assert check_script(urdu).script == "Arab"
    assert check_script(urdu).is_arabic is False
    assert check_script(ALEPPO).is_arabic is True


def test_mojibake_title_and_text_are_repaired() -> None:
    text = "ودعا لافروف الولايات المتحدة إلي إقناع المسلحين"
    garbled = text.encode("utf-8").decode("cp1256")
    article = normalized(garbled, title="حلب".encode().decode("latin-1") + " اليوم")
    assert article.display_text == text
    assert article.text == garbled
    assert article.repairs["mojibake_utf8_as_cp1256"] == 7
    assert article.display_title == "حلب اليوم"


def test_normalize_stamps_nothing_itself_and_serializes(aleppo: Article) -> None:
    # The runner adds the stamp; the new fields travel as JSON and read back.
    again = Article.model_validate_json(aleppo.to_bytes())
    assert again.display_text == aleppo.display_text
    assert again.sentences == aleppo.sentences
