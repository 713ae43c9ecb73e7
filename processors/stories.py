"""Same story, several outlets: near-duplicate copies and story clusters.

Every article gets two MinHash signatures of its search text (datasketch): one
of word 3-gram shingles, which finds copies (`duplicate_of`: a wire story
republished with small edits), and one of its content words, which groups
articles that report the same event (`story_id`). Candidates come from LSH and
are confirmed by estimated Jaccard similarity. Only articles within a time
window of each other are compared; the signatures and story ids are kept in
SQLite, so the grouping survives a restart and a replayed article gets the
same answer it got the first time.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH

from processors.entities import tokenize, word_key

# 128 permutations keep the Jaccard estimate within about ±0.09 (one sigma).
NUM_PERM = 128
# Copies: most 3-word shingles shared. Wire copies edited by papers score 0.6-0.9.
DUPLICATE_THRESHOLD = 0.6
# Same event: a third of the content words shared. Unrelated stories of one day
# and one country can share as much (0.4 for two Yemen reports); 0.45 halves
# those mistakes but loses a quarter of the true pairs (benchmarks/story-pairs.tsv).
STORY_THRESHOLD = 0.35
SHINGLE = 3
# Words this short are mostly particles and prepositions: no evidence of a story.
MIN_CONTENT_WORD = 3
# Texts with fewer content words than this are too short to call anything a copy.
MIN_WORDS = 20
DEFAULT_WINDOW = timedelta(days=3)
SEED = 1
# Stored signatures are only comparable under the hashing scheme that made them.
SCHEME = "affine64"


@dataclass(frozen=True)
class StoryMatch:
    """The story an article belongs to, and the article it copies, if any."""

    story_id: str
    duplicate_of: str | None


class StoryIndex:
    """Assigns story ids and duplicate links; called once per article by the enrich step.

    State lives in the SQLite file at `path` (created if missing). Articles older
    than `window` before the newest one seen are dropped from memory and disk.
    A database error propagates: the runner retries the article, nothing is lost.
    """

    def __init__(self, path: Path, window: timedelta = DEFAULT_WINDOW) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        # WAL with NORMAL sync: a commit per article stays durable across a crash
        # of the process without an fsync each time.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS story_articles (id TEXT PRIMARY KEY, at REAL NOT NULL,"
            " story_id TEXT NOT NULL, duplicate_of TEXT, shingles BLOB, words BLOB)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS story_articles_at ON story_articles (at)")
        self._window = window
        self._lock = threading.Lock()
        self._copies = MinHashLSH(threshold=DUPLICATE_THRESHOLD, num_perm=NUM_PERM)
        self._stories = MinHashLSH(threshold=STORY_THRESHOLD, num_perm=NUM_PERM)
        self._signatures: dict[str, tuple[MinHash, MinHash, str, float]] = {}
        self._newest = 0.0
        self._load()

    def assign(self, article_id: str, search_text: str, at: datetime) -> StoryMatch | None:
        """The story and copy links of one article; None when its text is too short to judge."""
        with self._lock:
            known = self._db.execute(
                "SELECT story_id, duplicate_of FROM story_articles WHERE id = ?", (article_id,)
            ).fetchone()
            if known:
                return StoryMatch(known[0], known[1])
            words = [
                w
                for w in (word_key(t) for t, _s, _e in tokenize(search_text))
                if len(w) >= MIN_CONTENT_WORD and w.isalpha()
            ]
            if len(words) < MIN_WORDS:
                return None
            shingles, content = _signature(_shingles(words)), _signature(set(words))
            self._newest = max(self._newest, at.timestamp())
            self._expire()
            match = self._match(article_id, at.timestamp(), shingles, content)
            self._remember(article_id, at.timestamp(), match, shingles, content)
            return match

    def _match(self, article_id: str, at: float, shingles: MinHash, content: MinHash) -> StoryMatch:
        # An article arriving late is compared only with those within the window of it.
        copies = [
            k
            for k in self._copies.query(shingles)
            if self._near(k, at) and self._signatures[k][0].jaccard(shingles) >= DUPLICATE_THRESHOLD
        ]
        duplicate_of = min(copies, key=lambda k: self._signatures[k][3]) if copies else None
        if duplicate_of:
            return StoryMatch(self._signatures[duplicate_of][2], duplicate_of)
        scored = [
            (self._signatures[k][1].jaccard(content), k)
            for k in self._stories.query(content)
            if self._near(k, at)
        ]
        best = max((s for s in scored if s[0] >= STORY_THRESHOLD), default=None)
        story_id = self._signatures[best[1]][2] if best else article_id
        return StoryMatch(story_id, None)

    def _near(self, key: str, at: float) -> bool:
        return abs(self._signatures[key][3] - at) <= self._window.total_seconds()

    def _remember(
        self, article_id: str, at: float, match: StoryMatch, shingles: MinHash, content: MinHash
    ) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO story_articles VALUES (?, ?, ?, ?, ?, ?)",
            (
                article_id,
                at,
                match.story_id,
                match.duplicate_of,
                shingles.hashvalues.tobytes(),
                content.hashvalues.tobytes(),
            ),
        )
        self._db.commit()
        # A copy is represented by its original: indexing it too would make every
        # later copy of a much-republished text compare against all earlier ones.
        if match.duplicate_of is None:
            self._index(article_id, at, match.story_id, shingles, content)
        self._expire()

    def _index(
        self, article_id: str, at: float, story_id: str, shingles: MinHash, content: MinHash
    ) -> None:
        self._copies.insert(article_id, shingles)
        self._stories.insert(article_id, content)
        self._signatures[article_id] = (shingles, content, story_id, at)
        self._newest = max(self._newest, at)

    def _expire(self) -> None:
        horizon = self._newest - self._window.total_seconds()
        old = [k for k, v in self._signatures.items() if v[3] < horizon]
        for key in old:
            self._copies.remove(key)
            self._stories.remove(key)
            del self._signatures[key]
        if old:
            self._db.execute("DELETE FROM story_articles WHERE at < ?", (horizon,))
            self._db.commit()

    def _load(self) -> None:
        rows = self._db.execute(
            "SELECT id, at, story_id, shingles, words FROM story_articles"
            " WHERE duplicate_of IS NULL ORDER BY at"
        ).fetchall()
        for article_id, at, story_id, shingles, content in rows:
            self._index(article_id, at, story_id, _restore(shingles), _restore(content))
        self._expire()

    def close(self) -> None:
        self._db.close()


def _shingles(words: list[str]) -> set[str]:
    return {" ".join(words[i : i + SHINGLE]) for i in range(len(words) - SHINGLE + 1)}


def _signature(items: set[str]) -> MinHash:
    signature = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME)
    signature.update_batch([item.encode() for item in items])
    return signature


def _restore(blob: bytes) -> MinHash:
    return MinHash(
        num_perm=NUM_PERM, seed=SEED, scheme=SCHEME, hashvalues=np.frombuffer(blob, dtype=np.uint64)
    )
