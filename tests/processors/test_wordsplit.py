"""Split-word repair with the shipped lexicon."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from processors.wordsplit import (
    MIN_STORED_COUNT,
    SEEN_PAIR_COUNT,
    Lexicon,
    char_ngram_log_probs,
    count_words,
    load_lexicon,
    read_lexicon,
    write_char_model,
    write_lexicon,
)


def test_lost_spaces_in_real_text_are_repaired() -> None:
    lexicon = load_lexicon()
    assert lexicon.split("الولاياتالمتحدة") == ("الولايات", "المتحدة")
    assert lexicon.repair("ودعا لافروف الولاياتالمتحدة إلي") == (
        "ودعا لافروف الولايات المتحدة إلي",
        1,
    )


def test_real_words_are_left_whole() -> None:
    lexicon = load_lexicon()
    # Frequent words, a name written joined by convention, a dual, clitic-laden
    # forms, and a rare adjective that would split into النص + في.
    words = ("الولايات", "عبدالله", "مصدران", "بالانتهاكات", "والمسلحين", "فيشعر", "النصفي")
    for word in words:
        assert lexicon.split(word) is None, word


def test_compound_names_written_as_one_word_are_left_whole() -> None:
    # A name's head before الله or الدين is joined by the convention of عبدالله,
    # also after a clitic; after other words the same halves lost a space.
    lexicon = load_lexicon()
    for word in ("نورالدين", "صلاحالدين", "بنورالدين", "وخيرالله"):
        assert lexicon.split(word) is None, word
    assert lexicon.split("بإذنالله") == ("بإذن", "الله")
    assert lexicon.split("رسولالله") == ("رسول", "الله")


def test_hashtags_are_left_whole() -> None:
    # A hashtag joins its words on purpose; the same words in running text lost spaces.
    lexicon = load_lexicon()
    tagged = "شارك الفريق في #حملةالخيرالتطوعية اليوم"
    assert lexicon.repair(tagged) == (tagged, 0)
    assert lexicon.repair(tagged.replace("#", "")) == (
        "شارك الفريق في حملة الخير التطوعية اليوم",
        2,
    )


def test_common_pairs_with_a_two_letter_particle_are_split() -> None:
    # لا and ما before a verb often lose their space: a pair seen often enough
    # outweighs the doubt a two-letter half casts.
    lexicon = load_lexicon()
    for left, right in (("لا", "تكون"), ("لا", "يرضى"), ("ما", "يكفي"), ("ما", "يجري")):
        assert lexicon.count(f"{left} {right}") >= SEEN_PAIR_COUNT
        assert lexicon.split(left + right) == (left, right)


def test_a_letter_written_only_at_word_ends_marks_the_lost_space() -> None:
    # ة and ى end words: inside a run they are followed by a lost space, even
    # between words too rare for the counts to speak for.
    lexicon = load_lexicon()
    assert lexicon.split("الجمعيةباحتضانها") == ("الجمعية", "باحتضانها")
    assert lexicon.split("اضافةإلى") == ("اضافة", "إلى")
    # ...but ى before a hamza is an old spelling of ئ inside real words.
    assert lexicon.split("الشاطىء") is None


def test_every_lost_space_in_a_run_is_repaired_once() -> None:
    lexicon = load_lexicon()
    text = "قالت المملكةالعربيةالسعودية اليوم"
    repaired, spaces = lexicon.repair(text)
    assert repaired == "قالت المملكة العربية السعودية اليوم"
    assert spaces == 2
    assert lexicon.repair(repaired) == (repaired, 0)


def test_rare_inflected_words_are_left_whole() -> None:
    # Unseen or rare forms of known stems: two doctors (not طبي + بين), the
    # oldest (not الأ + قدم), and a clitic on a name joined by convention.
    lexicon = load_lexicon()
    for word in ("طبيبين", "الأقدم", "وعبدالرحمن", "للإغاثة", "والمقبل"):
        assert lexicon.split(word) is None, word


def test_pairs_never_seen_together_are_split_by_their_spelling() -> None:
    # None of these pairs is in the lexicon: the words' own counts and the
    # letter model (no word goes on after سيتم or بنجاح) decide.
    lexicon = load_lexicon()
    for left, right in (("سيتم", "العثور"), ("بنجاح", "السياحة"), ("تسمع", "داخل")):
        assert lexicon.count(f"{left} {right}") == 0
        assert lexicon.split(left + right) == (left, right)


def test_letter_model_scores_word_shapes(tmp_path: Path) -> None:
    words = ["كتاب", "كتب", "مكتبة", "الكتاب", "باب", "الباب"]
    log_probs = char_ngram_log_probs(words)
    path = tmp_path / "chars.tsv.gz"
    assert write_char_model(log_probs, path) == len(log_probs)
    lexicon_path = tmp_path / "lexicon.tsv.gz"
    write_lexicon(count_words([" ".join(words)] * 2), lexicon_path, cuts={})
    lexicon = read_lexicon(lexicon_path, path)
    assert lexicon.char_log_probs == pytest.approx(log_probs, abs=0.001)
    # A seen word is likelier than the same letters run into another word.
    assert lexicon.spelling_log_prob("الكتاب") > lexicon.spelling_log_prob("الكتابباب")


def test_short_and_non_arabic_text_is_untouched() -> None:
    lexicon = load_lexicon()
    assert lexicon.repair("Kerry 3٫5 في") == ("Kerry 3٫5 في", 0)


def test_lexicon_round_trips_and_counts_pairs(tmp_path: Path) -> None:
    counts = count_words(["قال الرئيس", "قال الرئيس اليوم", "قال الرئيس أمس", "قال الرئيس، أمس"])
    assert counts["قال الرئيس"] == 3
    assert counts["الرئيس أمس"] == 1  # a comma breaks the pair; keys keep the spelling
    assert count_words(["قَالَ"]) == {"قال": 1}  # diacritics are not counted
    path = tmp_path / "lexicon.tsv.gz"
    kept = write_lexicon(counts, path, cuts={"الرئيس": 3})
    expected = {k: v for k, v in counts.items() if v >= MIN_STORED_COUNT}
    lexicon = read_lexicon(path)
    assert {k: lexicon.count(k) for k in counts} == {k: expected.get(k, 0) for k in counts}
    assert kept == len(expected)
    assert lexicon.words == Lexicon.from_counts(expected).words
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        # Most frequent first, each word with its cut and the words seen after it.
        assert lines.readline() == "الرئيس\t4\t3\t\n"
        assert lines.readline() == "قال\t4\t\tالرئيس:3\n"
    # Stored cuts stand for the decisions of known words (with their letter model).
    char_path = tmp_path / "chars.tsv.gz"
    write_char_model(char_ngram_log_probs(lexicon.words), char_path)
    assert read_lexicon(path, char_path).split("الرئيس") == ("الر", "ئيس")


def test_stored_decisions_are_the_models() -> None:
    # The shipped lexicon's cuts were decided at build time: the model must
    # still make them, or a rebuild is due.
    lexicon = load_lexicon()
    assert lexicon.known_cuts is not None
    model = Lexicon(lexicon.words, lexicon.followers, char_log_probs=lexicon.char_log_probs)
    for word in list(lexicon.words)[:3000] + list(lexicon.known_cuts):
        assert lexicon.split_point(word) == model.split_point(word), word
