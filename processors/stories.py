"""Same story, several outlets: near-duplicate copies and story clusters.

Every article gets two MinHash signatures of its search text (datasketch): one
of word 3-gram shingles, which finds copies (`duplicate_of`: a wire story
republished with small edits), and one of its content words, which groups
articles that report the same event (`story_id`). Candidates come from LSH and
are confirmed by estimated Jaccard similarity. Only articles within a time
window of each other are compared; the signatures and story ids are kept in
SQLite, so the grouping survives a restart and a replayed article gets the
same answer it got the first time.

Each word is hashed once (a stable 64-bit BLAKE2b digest, cached: news repeats
its vocabulary) and a shingle's hash is mixed from its words' hashes, so no
shingle string is built or hashed. Expiry pops the oldest articles off a heap
of their times instead of scanning every fingerprint for each new article.

The LSH bands are those datasketch's MinHashLSH chooses for each threshold, but
their keys are cut from the signature in one array pass and kept in plain dicts
(`BandIndex`): datasketch's index does Python work per band for every insert,
query and removal, which cost more than the rest of the index put together.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from processors.entities import TOKEN_RE

log = logging.getLogger(__name__)

# 128 permutations keep the Jaccard estimate within about ±0.09 (one sigma).
NUM_PERM = 128
# Copies: most 3-word shingles shared. Wire copies edited by papers score 0.6-0.9.
DUPLICATE_THRESHOLD = 0.6
# Same event: a third of the content words shared. Unrelated stories of one day
# and one country can share as much (0.4 for two Yemen reports); 0.45 halves
# those mistakes but loses a quarter of the true pairs (benchmarks/story-pairs.tsv).
STORY_THRESHOLD = 0.35
SHINGLE = 3
# Odd multipliers that mix the hashes of a shingle's words into one: the order
# of the words counts, and distinct shingles collide no more than random values.
SHINGLE_MIX = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 1)
# Words this short are mostly particles and prepositions: no evidence of a story.
MIN_CONTENT_WORD = 3
# Texts with fewer content words than this are too short to call anything a copy.
MIN_WORDS = 20
DEFAULT_WINDOW = timedelta(days=3)
SEED = 1
# datasketch's 64-bit affine permutations: a collision-free map of 64-bit hashes.
SCHEME = "affine64"
# Stored signatures are only comparable with new ones made the same way; a file
# written another way keeps its answers for replays but is not matched against.
SIGNATURES = f"blake2b-words/shingle{SHINGLE}/{SCHEME}/{NUM_PERM}/seed{SEED}"
# Distinct words kept hashed in memory; a day of news has far fewer.
WORD_HASH_CACHE = 500_000
TATWEEL = "\u0640"
# MurmurHash3's 64-bit finalizer (published constants), as datasketch's affine64 scheme uses it.
FMIX_SHIFTS = (np.uint64(33), np.uint64(33), np.uint64(33))
FMIX_MULTIPLIERS = (np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
# A slot no value reached: datasketch's starting value for a 64-bit signature.
EMPTY_SLOT = np.uint64(2**64 - 1)


@dataclass(frozen=True)
class StoryMatch:
    """The story an article belongs to, and the article it copies, if any."""

    story_id: str
    duplicate_of: str | None


class _Indexed(NamedTuple):
    """What the index keeps of one original article."""

    shingles: LeanMinHash
    content: LeanMinHash
    story_id: str
    at: float


class StoryIndex:
    """Assigns story ids and duplicate links; called once per article by the enrich step.

    State lives in the SQLite file at `path` (created if missing). Articles older
    than `window` before the newest one seen are dropped from memory and disk.
    A database error propagates: the runner retries the article, nothing is lost.

    Durability, and why it is split in two. The stage commits input offsets only
    after calling `make_durable`, and outputs go to the bus as they are made:

    * Each answer is committed to the WAL before `assign` returns, so before its
      output can be produced. WAL with synchronous=NORMAL writes it to the
      operating system without an fsync: a crash of the process anywhere after
      that (before the output is sent, before the offset commit) leaves the row
      in place, and the article, read again, is recognised by its id and gets the
      answer already sent. Holding the rows back to write them once per offset
      commit would be cheaper, but an article read again after a crash would then
      be assigned afresh, and the order it is read in, across partitions, can
      differ from the first time: it could get another story than the one its
      first output carried.
    * A commit without fsync does not survive a crash of the machine. So before
      the offsets are committed, `make_durable` checkpoints the WAL, which
      fsyncs it: an article whose offset is committed, and is never read again,
      always has its row on disk for the articles after it. One fsync per offset
      commit (every commit_interval_s), not one per article.

    What is still not covered: a machine crash after an output was sent and before
    the next `make_durable` loses those rows, and those articles, read again, are
    assigned afresh. Closing that would take an fsync per article.
    """

    def __init__(self, path: Path, window: timedelta = DEFAULT_WINDOW) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        # WAL with NORMAL sync: a commit per article survives a crash of the process
        # without an fsync each time; `make_durable` fsyncs once per offset commit.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS story_articles (id TEXT PRIMARY KEY, at REAL NOT NULL,"
            " story_id TEXT NOT NULL, duplicate_of TEXT, shingles BLOB, words BLOB)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS story_articles_at ON story_articles (at)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS story_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
        )
        self._window = window.total_seconds()
        self._lock = threading.Lock()
        self._copies = BandIndex(DUPLICATE_THRESHOLD)
        self._stories = BandIndex(STORY_THRESHOLD)
        self._indexed: dict[str, _Indexed] = {}
        # (time, id) of every indexed article, the oldest on top: expiry looks
        # only at what leaves the window, never at the whole index.
        self._expiry: list[tuple[float, str]] = []
        self._newest = 0.0
        # Hashes of the words seen: news repeats its vocabulary from one article to the next.
        self._word_hashes: dict[str, int] = {}
        self._forget_other_signatures()
        self._load()

    def assign(
        self,
        article_id: str,
        search_text: str,
        at: datetime,
        keys: Sequence[str] | None = None,
    ) -> StoryMatch | None:
        """The story and copy links of one article; None when its text is too short to judge.

        `keys` are the tokens of `search_text` when already made (the enrich step
        shares its tokenization); without them the text is tokenized here.
        """
        with self._lock:
            known = self._db.execute(
                "SELECT story_id, duplicate_of FROM story_articles WHERE id = ?", (article_id,)
            ).fetchone()
            if known:
                return StoryMatch(known[0], known[1])
            words = content_words(search_text) if keys is None else content_keys(keys)
            if len(words) < MIN_WORDS:
                return None
            shingles, content = signatures(words, self._word_hashes)
            when = at.timestamp()
            self._newest = max(self._newest, when)
            self._expire()
            match = self._match(article_id, when, shingles, content)
            self._remember(article_id, when, match, shingles, content)
            return match

    def _match(
        self, article_id: str, at: float, shingles: LeanMinHash, content: LeanMinHash
    ) -> StoryMatch:
        # An article arriving late is compared only with those within the window of it.
        copies = [
            key
            for key in self._copies.query(shingles.hashvalues)
            if self._near(key, at)
            and self._indexed[key].shingles.jaccard(shingles) >= DUPLICATE_THRESHOLD
        ]
        if copies:
            # Ties in time (stamps are to the second) go to the smaller id, so the answer does
            # not depend on the index's set order, which follows the process's hash seed.
            original = min(copies, key=lambda key: (self._indexed[key].at, key))
            return StoryMatch(self._indexed[original].story_id, original)
        scored = [
            (self._indexed[key].content.jaccard(content), key)
            for key in self._stories.query(content.hashvalues)
            if self._near(key, at)
        ]
        best = max((s for s in scored if s[0] >= STORY_THRESHOLD), default=None)
        story_id = self._indexed[best[1]].story_id if best else article_id
        return StoryMatch(story_id, None)

    def _near(self, key: str, at: float) -> bool:
        return abs(self._indexed[key].at - at) <= self._window

    def _remember(
        self,
        article_id: str,
        at: float,
        match: StoryMatch,
        shingles: LeanMinHash,
        content: LeanMinHash,
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
        # In the same transaction: rows out of the window, copies included (an
        # index range on `at`, so it costs only what it deletes).
        self._db.execute("DELETE FROM story_articles WHERE at < ?", (self._newest - self._window,))
        self._db.commit()
        # A copy is represented by its original: indexing it too would make every
        # later copy of a much-republished text compare against all earlier ones.
        if match.duplicate_of is None:
            self._index(article_id, at, match.story_id, shingles, content)
        self._expire()

    def _index(
        self,
        article_id: str,
        at: float,
        story_id: str,
        shingles: LeanMinHash,
        content: LeanMinHash,
    ) -> None:
        self._copies.insert(article_id, shingles.hashvalues)
        self._stories.insert(article_id, content.hashvalues)
        self._indexed[article_id] = _Indexed(shingles, content, story_id, at)
        heapq.heappush(self._expiry, (at, article_id))
        self._newest = max(self._newest, at)

    def _expire(self) -> None:
        """Drop from memory the articles that fell out of the window (the disk
        rows go in `_remember`'s transaction)."""
        horizon = self._newest - self._window
        while self._expiry and self._expiry[0][0] < horizon:
            _at, key = heapq.heappop(self._expiry)
            self._copies.remove(key)
            self._stories.remove(key)
            del self._indexed[key]

    def _forget_other_signatures(self) -> None:
        """Keep the answers of a file whose signatures were made another way, not its
        signatures: replays still get their story, new articles start new ones."""
        row = self._db.execute("SELECT value FROM story_meta WHERE key = 'signatures'").fetchone()
        if row is not None and row[0] == SIGNATURES:
            return
        dropped = self._db.execute(
            "UPDATE story_articles SET shingles = NULL, words = NULL WHERE shingles IS NOT NULL"
        ).rowcount
        if dropped:
            log.warning(
                "story signatures made another way are not matched against",
                extra={"articles": dropped, "signatures": SIGNATURES},
            )
        self._db.execute(
            "INSERT OR REPLACE INTO story_meta VALUES ('signatures', ?)", (SIGNATURES,)
        )
        self._db.commit()

    def _load(self) -> None:
        rows = self._db.execute(
            "SELECT id, at, story_id, shingles, words FROM story_articles"
            " WHERE duplicate_of IS NULL AND shingles IS NOT NULL ORDER BY at"
        ).fetchall()
        for article_id, at, story_id, shingles, content in rows:
            self._index(article_id, at, story_id, _restore(shingles), _restore(content))
        self._expire()

    def make_durable(self) -> None:
        """Put every answer given so far on disk for good (see the class docstring);
        called before the stage commits its offsets. Raises sqlite3.OperationalError
        when the WAL could not be checkpointed whole: the stage then commits nothing."""
        with self._lock:
            # TRUNCATE waits for readers, fsyncs the WAL, copies it into the
            # database, fsyncs that, and empties the WAL.
            busy, pages, copied = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy or pages != copied:
            raise sqlite3.OperationalError(
                f"story index checkpoint incomplete: {copied} of {pages} pages (busy={busy})"
            )

    def close(self) -> None:
        self._db.close()


class BandIndex:
    """The articles whose signatures share a band with a given one: LSH candidates.

    Banded as datasketch's MinHashLSH bands for the same threshold (its own
    choice of bands and rows), and a query gives the same keys as that index
    holding the same signatures (tests/processors/test_stories.py checks). A
    band's key is the raw bytes of its rows, all bands cut from the signature by
    one array view, and each band is a dict of key -> the articles under it.
    Called by StoryIndex under its lock; inserting a key twice raises ValueError.
    """

    def __init__(self, threshold: float) -> None:
        reference = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self.bands, self.rows = reference.b, reference.r
        # Bucket order and contents follow datasketch's, so candidates come out alike.
        self._buckets: list[dict[bytes, set[str]]] = [{} for _ in range(self.bands)]
        self._band_keys: dict[str, list[bytes]] = {}

    def __len__(self) -> int:
        return len(self._band_keys)

    def band_keys(self, hashvalues: np.ndarray) -> list[bytes]:
        """One key per band: the bytes of that band's rows of the signature."""
        used = np.ascontiguousarray(hashvalues[: self.bands * self.rows], dtype=np.uint64)
        # A void item of a band's width reads back as the bytes of that band.
        keys: list[bytes] = used.view(f"V{8 * self.rows}").tolist()
        return keys

    def insert(self, key: str, hashvalues: np.ndarray) -> None:
        if key in self._band_keys:
            raise ValueError(f"already indexed: {key}")
        band_keys = self._band_keys[key] = self.band_keys(hashvalues)
        for band_key, buckets in zip(band_keys, self._buckets, strict=True):
            members = buckets.get(band_key)
            if members is None:
                buckets[band_key] = {key}
            else:
                members.add(key)

    def query(self, hashvalues: np.ndarray) -> set[str]:
        """The keys sharing at least one band with the signature."""
        found: set[str] = set()
        for band_key, buckets in zip(self.band_keys(hashvalues), self._buckets, strict=True):
            members = buckets.get(band_key)
            if members:
                found.update(members)
        return found

    def remove(self, key: str) -> None:
        """Forget `key`; a key not indexed raises KeyError."""
        for band_key, buckets in zip(self._band_keys.pop(key), self._buckets, strict=True):
            members = buckets[band_key]
            members.discard(key)
            if not members:
                del buckets[band_key]


def content_words(search_text: str) -> list[str]:
    """The words of a search text that can tell one story from another, in order."""
    return content_keys(TOKEN_RE.findall(search_text.replace(TATWEEL, "")))


def content_keys(keys: Sequence[str]) -> list[str]:
    """The content words among token keys (search forms), in order."""
    return [word for word in keys if len(word) >= MIN_CONTENT_WORD and word.isalpha()]


def signatures(
    words: list[str], known: dict[str, int] | None = None
) -> tuple[LeanMinHash, LeanMinHash]:
    """MinHash signatures of the word shingles and of the distinct words; `known`
    is a table of word hashes kept from one article to the next."""
    table = add_word_hashes({} if known is None else known, words)
    hashes = np.fromiter(map(table.__getitem__, words), np.uint64, len(words))
    span = len(words) - SHINGLE + 1
    shingles = np.zeros(max(span, 0), dtype=np.uint64)
    for offset, multiplier in enumerate(SHINGLE_MIX):
        # Array arithmetic wraps around at 64 bits, which is the mixing intended.
        shingles += hashes[offset : offset + span] * np.uint64(multiplier)
    # A signature is a minimum per slot, which repeats cannot change: the words are
    # made distinct first because nearly half repeat; shingles seldom do.
    return _minhash(shingles), _minhash(np.unique(hashes))


def add_word_hashes(known: dict[str, int], words: list[str]) -> dict[str, int]:
    """`known` with every word of `words` in it: new words are hashed once, known
    ones cost a dict look-up (less than a cached call per word); emptied when it
    grows past WORD_HASH_CACHE."""
    if len(known) > WORD_HASH_CACHE:
        known.clear()
    for word in set(words).difference(known):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        known[word] = int.from_bytes(digest, "little")
    return known


def _minhash(hashes: np.ndarray) -> LeanMinHash:
    """The signature datasketch's MinHash.update_batch makes of these hashes, computed
    in one array pass: building a MinHash per signature costs more than the arithmetic.

    The values are hashes already; like datasketch they are mixed by the
    MurmurHash3 finalizer, then permuted by its affine maps, and each slot keeps
    its least value (tests/processors/test_stories.py checks they agree).
    """
    multipliers, offsets = _permutations()
    if len(hashes) == 0:
        return LeanMinHash(seed=SEED, hashvalues=np.full(NUM_PERM, EMPTY_SLOT), scheme=SCHEME)
    mixed = _murmur_finalizer(hashes.astype(np.uint64, copy=False)).reshape(-1, 1)
    # Array arithmetic wraps around at 64 bits: the permutations are modulo 2^64.
    values = (mixed * multipliers + offsets).min(axis=0)
    return LeanMinHash(seed=SEED, hashvalues=values, scheme=SCHEME)


def _murmur_finalizer(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer, the bijection datasketch mixes each value with."""
    for shift, multiplier in zip(FMIX_SHIFTS, FMIX_MULTIPLIERS, strict=False):
        values = (values ^ (values >> shift)) * multiplier
    return values ^ (values >> FMIX_SHIFTS[-1])


@lru_cache(maxsize=1)
def _permutations() -> np.ndarray:
    """datasketch's permutations for SEED, made once: making them costs more than using them."""
    return MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME).permutations


def _restore(blob: bytes) -> LeanMinHash:
    return LeanMinHash(seed=SEED, hashvalues=np.frombuffer(blob, dtype=np.uint64), scheme=SCHEME)
