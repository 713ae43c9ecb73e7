"""Split-word repair with the shipped lexicon."""

from __future__ import annotations

import gzip
from pathlib import Path

from processors.wordsplit import (
    MIN_STORED_COUNT,
    count_words,
    load_lexicon,
    read_lexicon,
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


def test_short_and_non_arabic_text_is_untouched() -> None:
    lexicon = load_lexicon()
    assert lexicon.repair("Kerry 3٫5 في") == ("Kerry 3٫5 في", 0)


def test_lexicon_round_trips_and_counts_pairs(tmp_path: Path) -> None:
    counts = count_words(["قال الرئيس", "قال الرئيس اليوم", "قال الرئيس أمس", "قال الرئيس، أمس"])
    assert counts["قال الرئيس"] == 3
    assert counts["الرئيس امس"] == 1  # a comma breaks the pair; keys are search forms
    path = tmp_path / "lexicon.tsv.gz"
    kept = write_lexicon(counts, path)
    expected = {k: v for k, v in counts.items() if v >= MIN_STORED_COUNT}
    assert read_lexicon(path).counts == expected
    assert kept == len(read_lexicon(path).counts)
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        assert lines.readline() == "الرئيس\t4\n"  # most frequent first
