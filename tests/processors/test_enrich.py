"""The enrich stage over both real bus backends, on the real Aleppo article."""

from __future__ import annotations

import gc
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from akhbar.article import Article
from akhbar.bus import Bus
from akhbar.config import BusSettings, Settings
from akhbar.pipeline import processing_stages
from akhbar.runner import HEADER_ERROR, Stage
from akhbar.topics import Topics
from processors import enrich
from processors.entities import load_lexicon
from processors.normalize import normalize
from tests.akhbar.test_bus_contract import read_all
from tests.akhbar.test_runner import dead_letters, drain, produce

PUBLISHED = datetime(2016, 12, 7, 9, 0, tzinfo=UTC)


def aleppo_article(text: str) -> Article:
    return normalize(
        Article.create("https://news.example/aleppo", text=text, published_at=PUBLISHED)
    )


def test_the_stage_enriches_and_dead_letters_what_was_not_normalized(
    bus: Bus, settings_for: BusSettings, tmp_path: Path, aleppo_text: str
) -> None:
    # Given a normalized article and one that skipped normalization
    prefix = settings_for.topic_prefix
    good = aleppo_article(aleppo_text)
    raw = Article.create("https://news.example/raw", text=aleppo_text)
    produce(bus, f"{prefix}in", [good.to_bytes(), raw.to_bytes()])
    enricher = enrich.Enricher(tmp_path / "stories.sqlite")
    stage = Stage(
        enrich.NAME, enrich.VERSION, f"{prefix}in", enricher.enrich, output_topic=f"{prefix}out"
    )

    # When the enrich stage drains its input
    drain(bus, stage, prefix=prefix)

    # Then the normalized article comes out with every extraction and the stamp
    consumer = bus.consumer(f"{prefix}reader", [f"{prefix}out"])
    (message,) = read_all(consumer, 1, timeout=20)
    consumer.close()
    out = Article.model_validate_json(message.value)
    assert out.processors[-1].name == "enrich" and out.processors[-1].version == enrich.VERSION
    assert {"زيد الصالح", "سيرجي لافروف"} <= {e.canonical for e in out.entities or []}
    assert any(q.value == 64 for q in out.quantities or [])
    assert any(q.speaker == "زيد الصالح" for q in out.quotes or [])
    assert any(d.text == "أمس" and d.value == "2016-12-06" for d in out.dates or [])
    assert out.story_id == good.id and out.duplicate_of is None
    # And the one without display text is dead-lettered with the reason
    (dead,) = dead_letters(bus, prefix, 1)
    assert b"not been normalized" in dict(dead.headers)[HEADER_ERROR]


def test_non_arabic_text_gets_empty_extractions(tmp_path: Path) -> None:
    english = normalize(Article.create("https://news.example/en", text="Talks resumed " * 30))
    out = enrich.Enricher(tmp_path / "stories.sqlite").enrich(english)
    assert (out.entities, out.quantities, out.quotes, out.dates) == ([], [], [], [])


def test_the_stage_puts_the_story_index_on_disk_before_committing(
    bus: Bus, settings_for: BusSettings, tmp_path: Path, aleppo_text: str
) -> None:
    # Given the enrich stage as the pipeline builds it, over a normalized article
    prefix = settings_for.topic_prefix
    article = aleppo_article(aleppo_text)
    produce(bus, Topics(prefix).normalized, [article.to_bytes()])
    path = tmp_path / "stories.sqlite"
    settings = Settings(bus={"topic_prefix": prefix}, enrich={"stories_path": path})
    [stage] = processing_stages(settings, only="enrich")

    # When it drains its input and commits
    runner = drain(bus, stage, prefix=prefix)

    # Then the story answer is in the database file itself, its log checkpointed away
    assert runner.stats.commits >= 1
    assert Path(f"{path}-wal").stat().st_size == 0
    with sqlite3.connect(path) as db:
        assert [row[0] for row in db.execute("SELECT id FROM story_articles")] == [article.id]


def test_the_loaded_model_is_left_out_of_garbage_collections(aleppo_text: str) -> None:
    # Given an enricher that has loaded its model on a first article
    enricher = enrich.Enricher(None)
    enricher.enrich(aleppo_article(aleppo_text))
    # Then the word lists it reads are no longer walked by each full collection
    tracked = {id(obj) for obj in gc.get_objects()}
    lexicon = load_lexicon()
    assert id(lexicon.gazetteer) not in tracked and id(lexicon.clusters) not in tracked
    # And what is made afterwards is collected as usual, the young less often
    later = enricher.enrich(aleppo_article(aleppo_text))
    assert any(obj is later.entities for obj in gc.get_objects())
    assert gc.get_threshold()[0] >= enrich.YOUNG_COLLECTION_EVERY
