"""Story grouping on real SaudiNewsNet articles, with its state in a real SQLite file."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from processors import stories
from processors.arabic import search_form
from processors.stories import StoryIndex

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "saudinewsnet-stories.jsonl"


@pytest.fixture(scope="module")
def articles() -> list[dict[str, str]]:
    return [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def assign_all(index: StoryIndex, articles: list[dict[str, str]]) -> list[tuple[str, str | None]]:
    found = []
    for item in articles:
        match = index.assign(
            item["url"], search_form(item["text"]), datetime.fromisoformat(item["published_at"])
        )
        assert match is not None
        found.append((match.story_id, match.duplicate_of))
    return found


def test_one_royal_order_reported_by_three_papers_is_one_story(
    tmp_path: Path, articles: list[dict[str, str]]
) -> None:
    found = assign_all(StoryIndex(tmp_path / "stories.sqlite"), articles)
    order_stories = {story for story, _copy in found[:3]}
    assert len(order_stories) == 1
    assert found[3][0] not in order_stories
    assert found[4][0] not in order_stories


def test_the_story_state_survives_a_restart(tmp_path: Path, articles: list[dict[str, str]]) -> None:
    # Given the first paper's report stored by one index
    first = StoryIndex(tmp_path / "stories.sqlite")
    ((story, _),) = assign_all(first, articles[:1])
    first.close()
    # When a new index over the same file sees the second paper's report
    reopened = StoryIndex(tmp_path / "stories.sqlite")
    ((second_story, _),) = assign_all(reopened, articles[1:2])
    # Then it joins the story from before the restart
    assert second_story == story


def test_a_replayed_article_gets_its_first_answer(
    tmp_path: Path, articles: list[dict[str, str]]
) -> None:
    index = StoryIndex(tmp_path / "stories.sqlite")
    first = assign_all(index, articles[:3])
    assert assign_all(index, articles[1:2]) == first[1:2]


def test_an_exact_copy_points_at_the_original(
    tmp_path: Path, articles: list[dict[str, str]]
) -> None:
    index = StoryIndex(tmp_path / "stories.sqlite")
    original = articles[0]
    copy = {**original, "url": original["url"] + "?copy"}
    found = assign_all(index, [original, copy])
    assert found[1] == (found[0][0], original["url"])


def test_articles_outside_the_window_are_forgotten(
    tmp_path: Path, articles: list[dict[str, str]]
) -> None:
    index = StoryIndex(tmp_path / "stories.sqlite", window=timedelta(days=3))
    old, later = articles[0], dict(articles[1])
    later["published_at"] = (
        (datetime.fromisoformat(old["published_at"]) + timedelta(days=10))
        .astimezone(UTC)
        .isoformat()
    )
    found = assign_all(index, [old, later])
    assert found[0][0] != found[1][0]


def test_a_text_too_short_to_judge_gets_no_story(tmp_path: Path) -> None:
    index = StoryIndex(tmp_path / "stories.sqlite")
    assert index.assign("short", "خبر قصير جدا", datetime(2016, 12, 7, tzinfo=UTC)) is None


def test_only_the_window_is_kept_in_memory_and_on_disk(
    tmp_path: Path, articles: list[dict[str, str]]
) -> None:
    # Given a day's reports replayed over ten days, one article a day
    path = tmp_path / "stories.sqlite"
    index = StoryIndex(path, window=timedelta(days=3))
    start = datetime(2016, 12, 1, tzinfo=UTC)
    for day in range(10):
        item = articles[day % len(articles)]
        index.assign(f"{item['url']}#{day}", search_form(item["text"]), start + timedelta(days=day))
    # Then only the last three days and the newest are remembered
    expected = {f"{articles[d % len(articles)]['url']}#{d}" for d in (6, 7, 8, 9)}
    with sqlite3.connect(path) as db:
        stored = {row[0] for row in db.execute("SELECT id FROM story_articles")}
    newest = f"{articles[9 % len(articles)]['url']}#9"
    assert stored <= expected and newest in stored
    assert set(index._indexed) <= expected


def test_signatures_made_another_way_keep_their_answers_but_match_nothing(
    tmp_path: Path, articles: list[dict[str, str]]
) -> None:
    # Given a story file whose signatures were made by another hashing scheme
    path = tmp_path / "stories.sqlite"
    first = StoryIndex(path)
    ((story, _),) = assign_all(first, articles[:1])
    first.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE story_meta SET value = 'an older scheme'")
    # When the index reopens it
    reopened = StoryIndex(path)
    # Then a replay gets its first answer, and the same story from another
    # paper starts a story of its own instead of matching unusable signatures
    assert assign_all(reopened, articles[:1]) == [(story, None)]
    ((second_story, _),) = assign_all(reopened, articles[1:2])
    assert second_story == articles[1]["url"]


def test_signatures_are_those_datasketch_makes_of_the_same_hashes() -> None:
    values = np.random.default_rng(7).integers(0, 2**64, 300, dtype=np.uint64)
    for count in (1, 2, 300):
        reference = MinHash(
            num_perm=stories.NUM_PERM, seed=stories.SEED, scheme=stories.SCHEME, hashfunc=int
        )
        reference.update_batch(values[:count].tolist())
        assert (stories._minhash(values[:count]).hashvalues == reference.hashvalues).all()
        # Repeated values (a shingle met twice) change nothing
        repeated = np.concatenate([values[:count], values[:count][::-1]])
        assert (stories._minhash(repeated).hashvalues == reference.hashvalues).all()


def stored_ids(database: Path) -> set[str]:
    with sqlite3.connect(database) as db:
        # The table itself is in the log until the first checkpoint.
        tables = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'story_articles'")
        if tables.fetchone() is None:
            return set()
        return {row[0] for row in db.execute("SELECT id FROM story_articles")}


def test_made_durable_the_answers_are_in_the_database_file_itself(
    tmp_path: Path, articles: list[dict[str, str]]
) -> None:
    # Given answers committed to the write-ahead log only
    path = tmp_path / "stories.sqlite"
    index = StoryIndex(path)
    assign_all(index, articles)
    alone = tmp_path / "alone.sqlite"
    alone.write_bytes(path.read_bytes())  # the file without its log, as after losing it
    assert stored_ids(alone) == set()
    # When the index is made durable
    index.make_durable()
    # Then the database file holds every answer without its log
    alone.unlink()
    alone.write_bytes(path.read_bytes())
    assert stored_ids(alone) == {item["url"] for item in articles}


def test_band_candidates_are_those_of_datasketchs_own_index(
    articles: list[dict[str, str]],
) -> None:
    # Given the fixture's articles and variants of them sharing some bands and not others
    signatures = []
    for n, item in enumerate(articles):
        words = stories.content_words(search_form(item["text"]))
        for cut in (0, len(words) // 3, len(words) // 2):
            shingles, content = stories.signatures(words[cut:])
            signatures.append((f"{n}/{cut}", shingles, content))
    for threshold, pick in ((stories.DUPLICATE_THRESHOLD, 1), (stories.STORY_THRESHOLD, 2)):
        ours = stories.BandIndex(threshold)
        reference = MinHashLSH(threshold=threshold, num_perm=stories.NUM_PERM)
        removed = set()
        # When both index the same signatures, some of them removed again
        for step, signature in enumerate(signatures):
            key, minhash = signature[0], signature[pick]
            assert ours.query(minhash.hashvalues) == set(reference.query(minhash))
            ours.insert(key, minhash.hashvalues)
            reference.insert(key, minhash)
            if step % 4 == 3:
                gone = signatures[step - 2][0]
                ours.remove(gone)
                reference.remove(gone)
                removed.add(gone)
        # Then every query finds what datasketch finds, the signature's own key among them
        shared = 0
        for key, *pair in signatures:
            found = ours.query(pair[pick - 1].hashvalues)
            assert found == set(reference.query(pair[pick - 1]))
            assert (key in found) == (key not in removed)
            shared += len(found - {key}) > 0
        assert shared  # variants of one text share bands: the check is not of empty answers
        assert len(ours) == len(reference.keys)
        assert (ours.bands, ours.rows) == (reference.b, reference.r)
