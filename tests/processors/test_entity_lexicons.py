"""The tagger's lexicons: spelling variants, CLDR places, Wikidata's people, and the
auto-lexicon built from news."""

from __future__ import annotations

import gzip
import json
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pycrfsuite
import pytest

from processors.entities import (
    NO_AUTO_LEXICON,
    EntityTagger,
    load_lexicon,
    token_features,
    use_auto_lexicon,
    word_key,
)
from processors.ner_eval import read_conll
from scripts.build_auto_lexicon import MIN_ARTICLES, MIN_TAGGED, TagCounts, build
from scripts.build_person_names import INDEX_IN_WHEEL, read_index, write_gazetteer
from scripts.build_proper_nouns import (
    MIN_SEEN,
    ProperNounCounts,
    stem_tag,
    without_markers,
    word_groups,
)
from scripts.train_ner import AUTO_LEXICON_PARTS, train_with_auto_lexicon

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def listed(name: str) -> frozenset[str]:
    keys = [word_key(word) for word in name.split()]
    return frozenset(
        kind
        for start, end, kinds in load_lexicon().matches(keys)
        if (start, end) == (0, len(keys))
        for kind in kinds
    )


@pytest.fixture
def auto_lexicon_choice() -> Iterator[None]:
    """Whatever a test chooses, the shipped auto-lexicon is back afterwards."""
    yield
    use_auto_lexicon(None)


def test_a_listed_name_is_found_in_either_spelling_of_g() -> None:
    # Given هونغ كونغ as CLDR spells it; news writes it هونج كونج as often
    assert "LOC" in listed("هونغ كونغ")
    assert "LOC" in listed("هونج كونج")


def test_cldr_places_are_listed() -> None:
    # Given cities and countries found in no other list the tagger has
    assert "LOC" in listed("أوليانوفسك")
    assert "LOC" in listed("أبيدجان")
    # And the organisations CLDR lists among its regions
    assert listed("الأمم المتحدة") >= {"ORG"}


def test_wikidata_people_are_listed_with_or_without_a_clitic() -> None:
    # Given a full name found in no other list the tagger has, as written and after و
    assert listed("فاتن حمامة") == {"WPERS"}
    assert listed("وفاتن حمامة") == {"WPERS"}
    # The first word alone is no listed person of Wikidata's (ANERcorp's list has it)
    assert listed("فاتن") == {"PERS"}


def test_given_names_and_surnames_are_properties_of_a_word() -> None:
    assert "name_part=given" in token_features("فاتن").own
    assert "name_part=surname" in token_features("روحاني").own
    # Also without the proclitic, and seen by the neighbours
    assert "name_part=surname" in token_features("لروحاني").own
    assert "-1:name_part=surname" in token_features("روحاني").seen_from[1]
    # Wikidata has كان as a given name; the news never has it as a proper noun
    assert load_lexicon().person_parts["كان"] == "given"
    assert not any(f.startswith("name_part=") for f in token_features("كان").own)


# An index in the arabic-name-romanizer package's schema (the real one is 14 MB): the
# Faten Hamama, Aima Baig, Hamama, Eilanlu and Ab rows are copied from it, the others
# written for the rules they meet.
INDEX_SCHEMA = """
CREATE TABLE full_names (arabic_key TEXT NOT NULL, latin TEXT NOT NULL,
    latin_lang TEXT NOT NULL DEFAULT '', country TEXT NOT NULL DEFAULT '',
    count INTEGER NOT NULL, source TEXT NOT NULL);
CREATE TABLE units (arabic_key TEXT NOT NULL, latin TEXT NOT NULL,
    latin_lang TEXT NOT NULL DEFAULT '', country TEXT NOT NULL DEFAULT '',
    role TEXT NOT NULL DEFAULT 'unknown', count INTEGER NOT NULL, source TEXT NOT NULL);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
FULL_NAMES = [
    ("فاتن حمامه", "Faten Hamama", "en", "EG", 1, "wikidata"),
    ("ائمه بيگ", "Aima Baig", "en", "PK", 1, "wikidata"),
    ("حمامه", "Hamama", "en", "EG", 3, "wikidata"),  # one word: not a full name
    ("رابح ماجر", "Rabah Madjer", "en", "DZ", 1, "dzirinames"),  # not Wikidata's
]
UNITS = [
    ("حمامه", "Hamama", "", "DZ", "surname", 2, "wikidata"),
    ("حمامه", "Hamama", "", "EG", "surname", 2, "wikidata"),
    ("حمامه", "Hamama", "", "DZ", "unknown", 1, "dzirinames"),
    ("فاتن", "Faten", "", "EG", "given", 5, "wikidata"),
    ("فاتن", "Faten", "", "EG", "surname", 1, "wikidata"),
    ("محمد", "Mohamed", "", "EG", "given", 9, "wikidata"),
    ("محمد", "Mohamed", "", "EG", "unknown", 40, "wikidata"),  # mostly no role: left out
    ("ئيلانلو", "Eilanlu", "", "IR", "surname", 1, "wikidata"),  # borne once: left out
    ("اب", "Ab", "", "DZ", "surname", 5, "dzirinames"),
]


def write_wheel(path: Path) -> Path:
    database = path.parent / "names.sqlite3"
    index = sqlite3.connect(database)
    index.executescript(INDEX_SCHEMA)
    index.executemany("INSERT INTO full_names VALUES (?, ?, ?, ?, ?, ?)", FULL_NAMES)
    index.executemany("INSERT INTO units VALUES (?, ?, ?, ?, ?, ?, ?)", UNITS)
    index.execute("INSERT INTO meta VALUES ('built', '2026-09-04')")
    index.commit()
    index.close()
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.write(database, INDEX_IN_WHEEL)
    return path


def test_the_person_gazetteer_is_read_from_the_wheels_index(tmp_path: Path) -> None:
    names, parts, built = read_index(write_wheel(tmp_path / "romanizer.whl"))
    assert names == ["ائمه بيگ", "فاتن حمامه"]
    assert parts == [("GIVEN", "فاتن"), ("SURNAME", "حمامه")]
    assert built == "2026-09-04"
    first, second = tmp_path / "first.tsv.gz", tmp_path / "second.tsv.gz"
    write_gazetteer(first, names, parts, "a wheel")
    write_gazetteer(second, names, parts, "a wheel")
    assert first.read_bytes() == second.read_bytes()
    rows = gzip.decompress(first.read_bytes()).decode("utf-8").splitlines()
    assert rows[1:] == ["WPERS\tائمه بيگ", "WPERS\tفاتن حمامه", "GIVEN\tفاتن", "SURNAME\tحمامه"]


def write_auto_lexicon(path: Path, rows: list[tuple[str, str]]) -> None:
    lines = ["# word<TAB>tag<TAB>counts", *(f"{word}\t{tag}\t9\t9\t5" for word, tag in rows)]
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))


def test_a_word_of_the_auto_lexicon_gets_its_tag(tmp_path: Path, auto_lexicon_choice: None) -> None:
    # Given an auto-lexicon naming a person never seen in the labelled corpus
    path = tmp_path / "auto.tsv.gz"
    write_auto_lexicon(path, [("زيزفون", "B-PERS"), ("ولاكر", "I-ORG")])
    use_auto_lexicon(path)
    # Then the word has the feature, alone or behind a proclitic, and its neighbours see it
    assert "auto=B-PERS" in token_features("زيزفون").own
    assert "auto=B-PERS" in token_features("وزيزفون").own
    assert "-1:auto=B-PERS" in token_features("زيزفون").seen_from[1]  # offset -1
    # And a listed word that only looks like clitic + stem is taken as it stands
    assert "auto=I-ORG" in token_features("ولاكر").own
    # And with the list switched off, nothing
    use_auto_lexicon(NO_AUTO_LEXICON)
    assert not [f for f in token_features("زيزفون").own if f.startswith("auto=")]


def test_the_auto_lexicon_keeps_names_tagged_often_and_in_several_articles() -> None:
    counts = TagCounts()
    articles = [
        # a person named in every article; a word tagged once, in one article only;
        # a common noun that starts a name once in a while
        ([["قال", "زيزفون", "ان", "الوزاره"]], [["O", "B-PERS", "O", "B-ORG"]]),
        ([["زيزفون", "في", "الوزاره"]], [["B-PERS", "O", "O"]]),
        ([["زيزفون", "و", "الوزاره", "كرزن"]], [["B-PERS", "O", "O", "B-LOC"]]),
        ([["الوزاره", "زيزفون"], ["الوزاره"]], [["O", "B-PERS"], ["O"]]),
    ]
    for sentences, tags in articles:
        counts.add_article(sentences, tags)
    kept = {word: tag for word, tag, *_counts in counts.lexicon()}
    assert MIN_TAGGED <= 4 and MIN_ARTICLES <= 4
    assert kept == {"زيزفون": "B-PERS"}


def news_folder(folder: Path) -> Path:
    """A SaudiNewsNet-style day archive of the fixture articles."""
    items = [
        {"url": a["url"], "title": a["title"], "content": a["text"]}
        for a in map(json.loads, (FIXTURES / "saudinewsnet-stories.jsonl").open(encoding="utf-8"))
    ]
    folder.mkdir()
    with zipfile.ZipFile(folder / "2015-07-21.zip", "w") as zipped:
        zipped.writestr("2015-07-21.json", json.dumps(items, ensure_ascii=False))
    return folder


def test_the_auto_lexicon_is_built_from_news_by_a_model(tmp_path: Path) -> None:
    # Given the shipped model and five real news articles
    output = tmp_path / "auto.tsv.gz"
    by_tag = build(
        Path(__file__).resolve().parents[2] / "processors" / "resources" / "ner.crfsuite",
        news_folder(tmp_path / "news"),
        output,
    )
    # Then the names it tags in them often enough are written with their tag
    rows = [
        line.split("\t")
        for line in gzip.decompress(output.read_bytes()).decode("utf-8").splitlines()
        if not line.startswith("#")
    ]
    assert rows and sum(by_tag.values()) == len(rows)
    assert {tag for _word, tag, *_counts in rows} <= {
        f"{p}-{kind}" for p in "BI" for kind in ("PERS", "LOC", "ORG", "MISC")
    }
    for _word, _tag, so_tagged, seen, articles in rows:
        assert int(seen) >= int(so_tagged) and int(articles) >= MIN_ARTICLES


def test_a_model_trained_with_an_auto_lexicon_uses_it(
    tmp_path: Path, auto_lexicon_choice: None
) -> None:
    # Given the labelled sample and news, trained with an auto-lexicon for each part
    gold = read_conll(FIXTURES / "anercorp-sample.txt")
    model, lexicon = tmp_path / "model.crfsuite", tmp_path / "auto.tsv.gz"
    train_with_auto_lexicon(gold, model, lexicon, news_folder(tmp_path / "news"), 0.05, 0.02)
    # Then the list the model is used with is written, and the tagger decodes as crfsuite does
    assert lexicon.is_file() and AUTO_LEXICON_PARTS > 1
    tagger = EntityTagger(str(model))
    tokens = [tokens for tokens, _tags in gold]
    assert tagger.tag_document(tokens, place_rule=False) == tagger.reference_tags(tokens)
    info = pycrfsuite.Tagger()
    info.open(str(model))
    assert info.info().labels


def test_the_news_says_which_words_are_proper_nouns() -> None:
    # Names the treebank tagger called proper nouns all through the news, common
    # nouns never, and a word with a clitic the news never shows falls back on its stem
    assert "propn=mostly" in token_features("كاميرون").own
    assert "propn=mostly" in token_features("موسكو").own
    assert "propn=never" in token_features("مدينة").own
    assert "propn=never" in token_features("قال").own
    assert load_lexicon().proper_nouns.get("فكاميرون") is None
    assert "propn=mostly" in token_features("فكاميرون").own
    assert "propn=unknown" in token_features("زقزقلونيس").own


# Words cut as CoreNLP's Arabic segmenter (4.5.10, clitics marked with +) cut them in
# the news, with treebank tags: ل+ +ها is one word with no stem, ب+ التصدي one with a proclitic.
TOKENS = ["يروج", "لها", "بالتصدي", "كاميرون"]
SEGMENTED = "يروج ل+ +ها ب+ التصدي كاميرون"
TAGGED = "يروج/VBP ل/IN ها/PRP ب/IN التصدي/DTNN كاميرون/NNP"


def test_segmented_pieces_map_back_onto_the_words_they_came_from() -> None:
    pieces = SEGMENTED.split()
    tags = [item.rpartition("/")[2] for item in TAGGED.split()]
    groups = word_groups(pieces)
    assert groups == [[0], [1, 2], [3, 4], [5]]
    assert [stem_tag(group, pieces, tags) for group in groups] == ["VBP", "IN", "DTNN", "NNP"]
    assert without_markers(SEGMENTED) == "يروج ل ها ب التصدي كاميرون"


def test_proper_noun_counts_keep_often_seen_words_and_skip_what_does_not_align() -> None:
    counts = ProperNounCounts()
    for _ in range(MIN_SEEN):
        counts.add_sentence(TOKENS, SEGMENTED, TAGGED)
    # A segmenter line with a word too few is left out, not misaligned
    counts.add_sentence(TOKENS, "يروج ل+ +ها كاميرون", "يروج/VBP ل/IN ها/PRP كاميرون/NNP")
    assert counts.unaligned == 1
    assert counts.shares() == {"يروج": 0, "لها": 0, "بالتصدي": 0, "كاميرون": 100}
    counts.add_sentence(["كاميرون"], "كاميرون", "كاميرون/NN")
    assert counts.shares()["كاميرون"] == 75
