"""Repair of words run together by a lost space (`الولاياتالمتحدة` -> `الولايات المتحدة`).

The evidence is a lexicon of word and word-pair counts over real news text
(see scripts/build_lexicon.py and processors/resources/PROVENANCE.md). A run of
Arabic letters is split in two only when the run itself is (nearly) unseen and
the two halves were seen side by side, as two words, often enough: counts of
single words alone split the halves of rare inflected words (`بال` + `فاعل`)
far too often. Words are counted and looked up in their search form (no
diacritics, alef/ya/teh marbuta folded), so spelling variants share counts.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from camel_tools.utils.dediac import dediac_ar
from camel_tools.utils.normalize import (
    normalize_alef_ar,
    normalize_alef_maksura_ar,
    normalize_teh_marbuta_ar,
)

LEXICON_PATH = Path(__file__).parent / "resources" / "ar-news-wordfreq.tsv.gz"

# A joined run seen at most this often in the corpus counts as "not a word";
# real words that rare are mostly names and typos, which splitting rarely hits
# because their halves are seldom both frequent.
MAX_JOINED_COUNT = 1
# The two halves must have been seen this often as adjacent words: a pair seen
# once is too often a tokenization accident of the corpus (measured with
# scripts/evaluate_wordsplit.py, as every threshold here).
MIN_PAIR_COUNT = 2
# Pairs with a two-letter half (من, ان, ما, في, هو...) need more evidence: such
# halves hide inside many real words (منعقدة, انبسطت, هوراس); 10 brings false
# splits under 1 per 10,000 words for a few points of recall.
MIN_SHORT_PAIR_COUNT = 10
# Letters that end a word and never begin one: a half cannot start with them.
WORD_FINAL_LETTERS = "ةى"
# Single-letter proclitics (and, so, with, for, like): a run that is one of them
# plus a word seen this often is that word with its clitic (`فيشعر` = ف + يشعر),
# not two words (في + شعر).
PROCLITICS = "وفبلك"
MIN_CLITIC_HOST_COUNT = 3
# Right halves that are also inflection endings (dual, plural, pronoun suffixes):
# `مصدران` is one word, never `مصدر ان`.
SUFFIX_LIKE = frozenset({"ان", "ين", "ون", "ات", "ها", "هم", "هما", "هن", "يه", "نا", "كم"})
# Left halves that are the definite article with its proclitics: never a word.
PREFIX_LIKE = frozenset({"ال", "بال", "وال", "فال", "كال", "لل", "ولل"})
# Left halves of compound names written as one word by convention (`عبدالله`).
NAME_PREFIXES = frozenset({"عبد", "ابو"})
# Halves shorter than this are clitics and particles that glue onto words in
# correct spelling (و, ب, ل ...); splitting them off would break good text.
MIN_PART_LENGTH = 2
# Shortest run worth a look: two halves of MIN_PART_LENGTH, plus one letter.
MIN_JOINED_LENGTH = 2 * MIN_PART_LENGTH + 1
# Entries kept in the shipped lexicon: rarer words count as unseen joined runs
# anyway, and rarer pairs cannot justify a split (MIN_PAIR_COUNT).
MIN_STORED_COUNT = MIN_PAIR_COUNT

# Split decisions remembered per distinct word (news vocabulary repeats, so most
# lookups hit); past this many the memory is cleared, bounding a long-running
# stage to some tens of MB.
MAX_CACHED_DECISIONS = 300_000

# Arabic letters proper (hamza to yeh), the only ones the lexicon counts.
ARABIC_WORD_RE = re.compile("[\u0621-\u063a\u0641-\u064a]+")
# Diacritics and tatweel are dropped before counting (see lexicon_key).
_STRIP_RE = re.compile("[\u0640\u064b-\u065f\u0670]")


def lexicon_key(word: str) -> str:
    """The form a word is counted and looked up under: the search form of it."""
    folded = normalize_alef_ar(dediac_ar(word))
    return normalize_teh_marbuta_ar(normalize_alef_maksura_ar(folded))


def lexicon_words(text: str) -> Iterator[str]:
    """The Arabic words of `text`, as lexicon keys, in order."""
    for match in ARABIC_WORD_RE.finditer(_STRIP_RE.sub("", text)):
        yield lexicon_key(match.group())


@dataclass
class Lexicon:
    """Word counts, and the split decision drawn from them.

    Built once per process (see `load_lexicon`); lookups cannot fail.
    """

    counts: dict[str, int]
    _decisions: dict[str, tuple[str, str] | None] = field(default_factory=dict, repr=False)

    def split_point(self, word: str) -> int | None:
        """Where to put the lost space in `word`, or None to leave it whole."""
        if len(word) < MIN_JOINED_LENGTH:
            return None
        key = lexicon_key(word)
        if len(key) != len(word):  # diacritics inside: offsets would not line up
            return None
        if self.counts.get(key, 0) > MAX_JOINED_COUNT:
            return None
        if key[0] in PROCLITICS and self.counts.get(key[1:], 0) >= MIN_CLITIC_HOST_COUNT:
            return None
        best, best_count = None, 0
        for cut in range(MIN_PART_LENGTH, len(key) - MIN_PART_LENGTH + 1):
            left, right = key[:cut], key[cut:]
            if word[cut] in WORD_FINAL_LETTERS or _is_word_part(left, right):
                continue
            pair_count = self.counts.get(f"{left} {right}", 0)
            short = len(left) == MIN_PART_LENGTH or len(right) == MIN_PART_LENGTH
            needed = MIN_SHORT_PAIR_COUNT if short else MIN_PAIR_COUNT
            if pair_count >= needed and pair_count > best_count:
                best, best_count = cut, pair_count
        return best

    def split(self, word: str) -> tuple[str, str] | None:
        """The two words `word` was made of, or None when it should stay whole."""
        if word in self._decisions:
            return self._decisions[word]
        cut = self.split_point(word)
        decision = None if cut is None else (word[:cut], word[cut:])
        if len(self._decisions) >= MAX_CACHED_DECISIONS:
            self._decisions.clear()
        self._decisions[word] = decision
        return decision

    def repair(self, text: str) -> tuple[str, int]:
        """`text` with joined words split, and how many were split."""
        # Most texts need no split: decide per distinct word first, and only
        # rewrite the text when some word needs it.
        candidates = JOINED_CANDIDATE_RE.findall(text)
        split = self.split
        if all(split(word) is None for word in set(candidates)):
            return text, 0
        splits = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal splits
            parts = split(match.group())
            if parts is None:
                return match.group()
            splits += 1
            return f"{parts[0]} {parts[1]}"

        return JOINED_CANDIDATE_RE.sub(replace, text), splits


JOINED_CANDIDATE_RE = re.compile(f"[\u0621-\u063a\u0641-\u064a]{{{MIN_JOINED_LENGTH},}}")


def _is_word_part(left: str, right: str) -> bool:
    """Whether this cut falls between a stem and its affix rather than two words."""
    if right in SUFFIX_LIKE or left in PREFIX_LIKE or left in NAME_PREFIXES:
        return True
    # `النصفي` is النص + the adjective ending -ي, not النص + في; `كتابهما` is
    # كتاب + the dual pronoun -هما, not كتابه + ما.
    nisba = right == "في" and left.startswith("ال")
    dual_pronoun = right == "ما" and left.endswith("ه")
    return nisba or dual_pronoun


def count_words(texts: Iterable[str]) -> dict[str, int]:
    """Counts of words and of adjacent word pairs ("a b") over `texts`, by lexicon key.

    A pair is two whitespace tokens in a row that are both plain Arabic words, so
    punctuation, digits or a line break between two words keep them from pairing.
    """
    counts: dict[str, int] = {}
    for text in texts:
        for word in lexicon_words(text):
            counts[word] = counts.get(word, 0) + 1
        for line in text.splitlines():
            keys = [_plain_key(token) for token in line.split()]
            for left, right in zip(keys, keys[1:], strict=False):
                if left and right:
                    pair = f"{left} {right}"
                    counts[pair] = counts.get(pair, 0) + 1
    return counts


def _plain_key(token: str) -> str | None:
    token = _STRIP_RE.sub("", token)
    return lexicon_key(token) if ARABIC_WORD_RE.fullmatch(token) else None


def write_lexicon(counts: dict[str, int], path: Path) -> int:
    """Write the words seen at least MIN_STORED_COUNT times, most frequent first."""
    kept = sorted(
        ((w, c) for w, c in counts.items() if c >= MIN_STORED_COUNT), key=lambda x: (-x[1], x[0])
    )
    # mtime=0: the same counts give the same bytes, so a rebuild shows no diff.
    with gzip.GzipFile(path, "wb", mtime=0) as raw:
        raw.write("".join(f"{w}\t{c}\n" for w, c in kept).encode())
    return len(kept)


def read_lexicon(path: Path) -> Lexicon:
    """Load a lexicon written by write_lexicon; a missing or bad file raises OSError/ValueError."""
    counts: dict[str, int] = {}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            word, _, count = line.rstrip("\n").partition("\t")
            counts[word] = int(count)
    return Lexicon(counts)


@cache
def load_lexicon() -> Lexicon:
    """The shipped lexicon, read once per process."""
    return read_lexicon(LEXICON_PATH)
