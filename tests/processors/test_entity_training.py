"""Training the entity model: BIOES tags, the news tag counts kept between runs, and the
same model file from the same inputs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pycrfsuite
import pytest

from processors.entities import EntityTagger, as_iob2, to_bioes, use_auto_lexicon
from processors.ner_eval import read_conll, spans
from scripts.build_auto_lexicon import MIN_TAGGED, WEAK, TagCounts
from scripts.train_ner import NewsTagCounts, train

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def auto_lexicon_choice() -> Iterator[None]:
    """Whatever a test chooses, the shipped auto-lexicon is back afterwards."""
    yield
    use_auto_lexicon(None)


def test_bioes_marks_ends_and_single_words_and_reads_back_as_the_same_iob2() -> None:
    tags = ["B-PERS", "I-PERS", "O", "B-LOC", "B-LOC", "I-LOC", "I-LOC", "B-ORG"]
    assert to_bioes(tags) == ["B-PERS", "E-PERS", "O", "S-LOC", "B-LOC", "I-LOC", "E-LOC", "S-ORG"]
    # And every sentence of the labelled sample comes back unchanged, with the same names
    for _tokens, gold in read_conll(FIXTURES / "anercorp-sample.txt"):
        written = to_bioes(gold)
        assert [as_iob2(tag) for tag in written] == gold
        assert sum(tag[:2] in ("S-", "E-") for tag in written) == len(spans(gold))


def test_a_model_trained_on_bioes_tags_gives_iob2_as_crfsuite_decodes_it(
    tmp_path: Path, auto_lexicon_choice: None
) -> None:
    # Given a model that learned BIOES tags on the labelled sample
    gold = read_conll(FIXTURES / "anercorp-sample.txt")
    model = tmp_path / "model.crfsuite"
    train(gold, model, scheme="bioes")
    info = pycrfsuite.Tagger()
    info.open(str(model))
    assert {label[:2] for label in info.info().labels} >= {"S-", "E-"}
    # Then the tagger gives IOB2 only, the same as crfsuite's own decoding read as IOB2
    tagger = EntityTagger(str(model))
    tokens = [tokens for tokens, _tags in gold]
    tagged = tagger.tag_document(tokens, place_rule=False)
    assert tagged == tagger.reference_tags(tokens)
    assert {tag[:2] for sentence in tagged for tag in sentence} <= {"B-", "I-", "O"}
    # And it has learned the sample: most of its names come back
    found = sum(len(set(spans(t)) & set(spans(g))) for t, (_x, g) in zip(tagged, gold, strict=True))
    assert found >= 0.8 * sum(len(spans(g)) for _x, g in gold)


def sample_counts() -> TagCounts:
    counts = TagCounts()
    for _ in range(3):
        counts.add_article(
            [["قال", "زيد", "الصالح", "في", "حلب"]], [["O", "B-PERS", "I-PERS", "O", "B-LOC"]]
        )
    return counts


def test_tag_counts_come_back_as_saved(tmp_path: Path) -> None:
    counts = sample_counts()
    counts.save(tmp_path / "counts.json.gz")
    again = TagCounts.load(tmp_path / "counts.json.gz")
    assert list(again.lexicon()) == list(counts.lexicon()) != []
    assert (again.read, again.seen, again.articles) == (3, counts.seen, counts.articles)


def test_news_tag_counts_are_counted_once_then_read_from_the_folder(tmp_path: Path) -> None:
    made: list[int] = []

    def count() -> TagCounts:
        made.append(1)
        return sample_counts()

    first = NewsTagCounts(tmp_path / "kept", "fold3-of-5").get("part0", count)
    second = NewsTagCounts(tmp_path / "kept", "fold3-of-5").get("part0", count)
    assert len(made) == 1 and second.seen == first.seen
    # Another part, or no folder, is counted afresh
    NewsTagCounts(tmp_path / "kept", "fold3-of-5").get("part1", count)
    NewsTagCounts(None, "fold3-of-5").get("part0", count)
    assert len(made) == 3


def test_words_tagged_too_seldom_are_listed_marked_weak_when_asked() -> None:
    counts = sample_counts()
    # a person tagged once, a word tagged once but seen mostly untagged
    counts.add_article([["قال", "كرزن"]], [["O", "B-PERS"]])
    counts.add_article([["الوزاره"], ["الوزاره"], ["الوزاره"]], [["B-ORG"], ["O"], ["O"]])
    assert MIN_TAGGED > 1
    assert {w: t for w, t, *_n in counts.lexicon()} == {
        "زيد": "B-PERS",
        "الصالح": "I-PERS",
        "حلب": "B-LOC",
    }
    weak = {w: t for w, t, *_n in counts.lexicon(weak=True)}
    assert weak == {
        "زيد": "B-PERS",
        "الصالح": "I-PERS",
        "حلب": "B-LOC",
        "كرزن": WEAK + "B-PERS",
    }


def test_training_writes_the_same_model_whatever_the_process_hash_seed(tmp_path: Path) -> None:
    # Given the labelled sample trained on in two processes hashing strings differently
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from processors.entities import NO_AUTO_LEXICON, use_auto_lexicon\n"
        "from processors.ner_eval import read_conll\n"
        "from scripts.train_ner import train\n"
        "use_auto_lexicon(NO_AUTO_LEXICON)\n"
        "train(read_conll(Path(sys.argv[1])), Path(sys.argv[2]))\n"
    )
    models = []
    for seed in ("1", "2"):
        model = tmp_path / f"model-{seed}.crfsuite"
        subprocess.run(
            [sys.executable, "-c", script, str(FIXTURES / "anercorp-sample.txt"), str(model)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=PROJECT,
            check=True,
        )
        models.append(model.read_bytes())
    # Then the model files are the same byte for byte
    assert models[0] == models[1]
