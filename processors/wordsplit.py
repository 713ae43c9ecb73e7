"""Repair of words run together by a lost space (`الولاياتالمتحدة` -> `الولايات المتحدة`).

The evidence is a lexicon of word and word-pair counts over real news text
(see scripts/build_lexicon.py and processors/resources/PROVENANCE.md), read as
a small language model. For a run of Arabic letters, each cut into two words
is scored by how much likelier the two words are than the run as one word:

    log P(left, right) - log P(run)

P(left, right) is the count of the pair when it was seen, else the two
words' own counts with a backoff weight (stupid backoff); P(run) is the run's
count, or the count of its stem when the run is a known word with clitics or
an inflection ending (`وبانتهاكاتهم`, `طبيبين`), with a floor for unseen runs.
A letter 5-gram model of spellings adds how much likelier the letters are as
two words than as one (`يزورالمنطقة`: no word goes on after `يزور`), which
decides most pairs never seen side by side. Two-letter halves pay a penalty
(less when the pair is common: `لايجوز`), a right half starting with ال earns
a bonus. A cut is made when its score passes SPLIT_THRESHOLD, which is tuned
on days of text kept out of both the lexicon and the test, counting the splits
of their untouched text judged false by reading (scripts/evaluate_wordsplit.py).

Compound names written as one word by convention stay whole: `عبدالله`,
`أبوبكر`, and a name's head before الله or الدين (`خيرالله`, `نورالدين`). So do
hashtags, whose words are joined on purpose (`#مبادرةخيرالشباب`).

The decisions for the words of the lexicon itself are made when it is built
and stored with it, so at run time only words never seen are scored.

Orthography settles some runs without counts: ة and ى (unless a hamza follows,
as in `الشاطىء`) are only written at the end of a word, so a run holding one
inside is two words cut right after it (`الجمعيةباحتضانها`).

Words are counted and looked up as written, diacritics and tatweel aside: the
joined run keeps the outlet's spelling of both halves, and folding ة into ه
or أ into ا would make `لة` look like the word `له`.
"""

from __future__ import annotations

import gzip
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

LEXICON_PATH = Path(__file__).parent / "resources" / "ar-news-wordfreq.tsv.gz"
CHAR_MODEL_PATH = Path(__file__).parent / "resources" / "ar-news-charngrams.tsv.gz"

# Score a cut must pass to be made, in natural-log odds (below zero: the
# penalties and the unseen-word floor are not calibrated probabilities). Tuned
# on the development days with the judged splits of their untouched text: at
# -1.5 recall is 0.851 with 0.08 false splits per 10,000 words; at -2.0 it is
# 0.862 with 0.20, the extra splits mostly foreign names (`بلايستيشن`, `بيتليس`).
SPLIT_THRESHOLD = -1.5
# Count given to a run never seen as a word: rare real words are common, so an
# unseen run is not evidence of a lost space by itself.
UNSEEN_WORD_COUNT = 0.5
# Weight of a word's stem count when the word is the stem with a clitic or an
# inflection ending (the share of a stem's uses that carry one given affix).
AFFIXED_STEM_WEIGHT = 0.1
# Stupid-backoff weight for a pair never seen side by side.
UNSEEN_PAIR_WEIGHT = 0.4
# Penalty (log odds) for a cut leaving a two-letter word: such words (من, في,
# ما, لا) hide at the start and end of many real words (منعقدة, نفيها).
SHORT_PART_PENALTY = 3.0
# The penalty when the pair was seen at least SEEN_PAIR_COUNT times: a pair
# such as لا يجوز or ما يصل is common enough to speak for itself (on the
# development days this keeps recall at the higher threshold).
SEEN_SHORT_PART_PENALTY = 0.5
SEEN_PAIR_COUNT = 10
# Bonus (log odds) when the right word starts with the definite article: a lost
# space before ال is the commonest kind in news text.
ARTICLE_BONUS = 1.5
# Letter n-grams of the spelling model: 5 letters tell word edges from word
# middles (4 did worse on the development days, 6 no better in a bigger file).
CHAR_ORDER = 5
# Weight of the spelling model's log odds (two words' spellings against one's)
# in a cut's score; tuned on the development days.
CHAR_MODEL_WEIGHT = 1.0
# Stupid-backoff weight for a letter n-gram never seen, per order backed off.
CHAR_BACKOFF = 0.4
# Log probability of a letter never seen at all in a word.
UNSEEN_CHAR_LOG_PROB = math.log(1e-6)
# Decimals the letter model's log probabilities are stored with: finer changes
# no decision, and the file stays small.
CHAR_LOG_PROB_DECIMALS = 3
WORD_START, WORD_END = "^", "$"

# Letters only written at the end of a word; a hamza after ى is an old spelling of ئ.
INNER_FINAL_LETTER_RE = re.compile("[ةى](?!ء)")
# Proclitic strings (conjunction, preposition, article) that attach to a stem.
PROCLITICS = (
    "وال", "بال", "فال", "كال", "ولل", "فلل", "وب", "ول", "وك", "فب", "فل", "ال", "لل",
    "و", "ف", "ب", "ل", "ك", "س",
)  # fmt: skip
# Endings that attach to a stem: pronouns, and the dual, plural and nisba endings.
ENCLITICS = (
    "هما", "هم", "هن", "ها", "كم", "كن", "نا", "ه", "ك", "ي", "ين", "ان", "ون", "ات",
    "ية", "يين", "يا", "وا", "تها", "ته", "تهم",
)  # fmt: skip
# A stem left after removing affixes must be at least this long to count.
MIN_STEM_LENGTH = 3
# Right halves that are inflection endings: `مصدران` is one word, never `مصدر ان`.
SUFFIX_LIKE = frozenset(
    {"ان", "ين", "ون", "ات", "ها", "هم", "هما", "هن", "يه", "نا", "كم", "ية", "ته", "تها", "تهم"}
)
# Left halves that are proclitics with the article or a verb prefix: never a word.
PREFIX_LIKE = frozenset(
    {"ال", "بال", "وال", "فال", "كال", "لل", "ولل", "وب", "ول", "فب", "فل", "وس", "سي", "ست"}
)
# Left halves of compound names written as one word by convention (`عبدالله`,
# also after a clitic: `وعبدالرحمن`).
NAME_PREFIXES = frozenset({"عبد", "ابو", "أبو"})
# Right halves of compound names (`خيرالله`, `نورالدين`) written as one word by
# the same convention, when the left half is one of NAME_HEADS.
NAME_TAILS = frozenset({"الله", "الدين"})
# Heads of the common compound names ending in الله or الدين.
NAME_HEADS = frozenset({
    "خير", "نصر", "فضل", "جار", "عطا", "ضيف", "حمد", "سعد", "فتح", "عوض", "حسب", "رزق",
    "جاد", "عبيد", "ولي", "أمر", "حرز", "كرم", "فرج", "سيف", "نور", "صلاح", "عز", "شمس",
    "بدر", "فخر", "جمال", "محي", "محيي", "علاء", "تاج", "سراج", "كمال", "شرف", "بهاء", "زين",
    "حسام", "عماد", "نجم", "ناصر", "شهاب", "قطب", "تقي", "حميد", "نظام", "ضياء", "معين", "غياث",
    "ركن", "عصام", "برهان", "نصير",
})  # fmt: skip
# Halves shorter than this are clitics and particles that glue onto words in
# correct spelling (و, ب, ل ...); splitting them off would break good text.
MIN_PART_LENGTH = 2
# Shortest run worth a look: two halves of MIN_PART_LENGTH, plus one letter.
MIN_JOINED_LENGTH = 2 * MIN_PART_LENGTH + 1
# Entries kept in the shipped lexicon: a word or pair seen once is too often a
# typo or a tokenization accident to be evidence, and dropping them halves the file.
MIN_STORED_COUNT = 2

# Split decisions remembered per distinct word, and tokens known to need none
# (news vocabulary repeats, so most lookups hit); past this many each memory is
# cleared, bounding a long-running stage to some tens of MB.
MAX_CACHED_DECISIONS = 300_000

# Arabic letters proper (hamza to yeh), the only ones the lexicon counts.
ARABIC_WORD_RE = re.compile("[\u0621-\u063a\u0641-\u064a]+")
# Diacritics and tatweel are dropped before counting (see lexicon_key).
_STRIP_RE = re.compile("[\u0640\u064b-\u065f\u0670]")


def lexicon_key(word: str) -> str:
    """The form a word is counted and looked up under: as written, without diacritics."""
    return _STRIP_RE.sub("", word)


def lexicon_words(text: str) -> Iterator[str]:
    """The Arabic words of `text`, as lexicon keys, in order."""
    return iter(ARABIC_WORD_RE.findall(_STRIP_RE.sub("", text)))


@dataclass
class Lexicon:
    """Word and pair counts, and the split decisions drawn from them.

    Built once per process (see `load_lexicon`); lookups cannot fail.
    """

    # How often each word was seen.
    words: dict[str, int]
    # The words seen after each word, as stored ("next:count next:count ..."):
    # parsed into a dict only when a split decision asks about that word, which
    # keeps the half a million pairs out of start-up.
    followers: dict[str, str] = field(default_factory=dict, repr=False)
    _parsed_followers: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    _decisions: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _whole: set[str] = field(default_factory=set, repr=False)
    _whole_tokens: set[str] = field(default_factory=set, repr=False)
    _log_total: float = field(default=0.0, repr=False)
    # Spelling model: log P(letter | the CHAR_ORDER - 1 before it) by n-gram,
    # word edges marked (see char_ngram_log_probs); empty leaves it out.
    char_log_probs: dict[str, float] = field(default_factory=dict, repr=False)
    # Where each word of `words` splits, decided when the lexicon was built (a
    # word absent here stays whole); None decides them at run time. Most words
    # a stage meets are in the lexicon, so their decisions cost one lookup.
    known_cuts: dict[str, int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._log_total = math.log(max(sum(self.words.values()), 1))

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> Lexicon:
        """A lexicon from count_words' counts (words and "left right" pairs), its letter
        model learnt from the words; every split decision is made at run time."""
        words = {entry: count for entry, count in counts.items() if " " not in entry}
        return cls(words, _followers_text(counts), char_log_probs=char_ngram_log_probs(words))

    def decide_known_words(self) -> dict[str, int]:
        """Where each word of the lexicon splits (only the words that do), for known_cuts."""
        cuts = {}
        for word in self.words:
            cut = self._decide(word)
            if cut is not None:
                cuts[word] = cut
        return cuts

    def count(self, entry: str) -> int:
        """How often a word, or a pair written "left right", was seen (0 when unseen)."""
        left, _, right = entry.partition(" ")
        return self.pair_count(left, right) if right else self.words.get(entry, 0)

    def pair_count(self, left: str, right: str) -> int:
        """How often `right` was seen right after `left`."""
        parsed = self._parsed_followers.get(left)
        if parsed is None:
            stored = self.followers.get(left)
            fields = iter(re.split("[ :]", stored) if stored else ())
            parsed = dict(zip(fields, map(int, fields), strict=True))
            self._parsed_followers[left] = parsed
        return parsed.get(right, 0)

    def split_point(self, word: str) -> int | None:
        """Where to put the lost space in `word`, or None to leave it whole."""
        if self.known_cuts is not None and word in self.words:
            return self.known_cuts.get(word)
        return self._decide(word)

    def _decide(self, word: str) -> int | None:
        if len(word) < MIN_JOINED_LENGTH or not ARABIC_WORD_RE.fullmatch(word):
            return None
        final = INNER_FINAL_LETTER_RE.search(word)
        if final and final.end() < len(word):
            cut = final.end()
            return cut if MIN_PART_LENGTH <= cut <= len(word) - MIN_PART_LENGTH else None
        words = self.words
        best, best_score = None, SPLIT_THRESHOLD
        word_count: float | None = None  # looked up only when some cut is plausible
        word_spelling: float | None = None
        for cut in range(MIN_PART_LENGTH, len(word) - MIN_PART_LENGTH + 1):
            # Most cuts leave a part never seen: the plain lookups come first.
            left = word[:cut]
            left_count = words.get(left) or self._affixed_count(left)
            if not left_count:
                continue
            right = word[cut:]
            right_count = words.get(right) or self._affixed_count(right)
            if not right_count or _is_word_part(left, right):
                continue
            if word_count is None:
                word_count = max(self._one_word_count(word), UNSEEN_WORD_COUNT)
            score = self._pair_log_count(left, right, left_count, right_count)
            score -= math.log(word_count)
            if min(cut, len(word) - cut) == MIN_PART_LENGTH:
                score -= self._short_part_penalty(left, right)
            if right.startswith("ال"):
                score += ARTICLE_BONUS
            if self.char_log_probs:
                if word_spelling is None:
                    word_spelling = self.spelling_log_prob(word)
                spellings = self.spelling_log_prob(left) + self.spelling_log_prob(right)
                score += CHAR_MODEL_WEIGHT * (spellings - word_spelling)
            if score > best_score:
                best, best_score = cut, score
        return best

    def split(self, word: str) -> tuple[str, ...] | None:
        """The words `word` was made of, or None when it should stay whole.

        Each part is split again until none splits, so repairing a repaired
        text changes nothing more.
        """
        if word in self._whole:
            return None
        decision = self._decisions.get(word)
        if decision is None:
            if len(self._decisions) + len(self._whole) >= MAX_CACHED_DECISIONS:
                self._decisions.clear()
                self._whole.clear()
            decision = self._split_all(word)
            if len(decision) == 1:
                self._whole.add(word)
                return None
            self._decisions[word] = decision
        return decision

    def repair(self, text: str) -> tuple[str, int]:
        """`text` with joined words split, and how many spaces were put back."""
        # Most tokens of a text were seen before and hold no lost space: one
        # split and one set difference find the rest, and the text is
        # rewritten only when one of them needs a split.
        tokens = set(text.split()) - self._whole_tokens
        if not tokens or not self._any_split(tokens):
            return text, 0
        spaces = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal spaces
            parts = self.split(match.group())
            if parts is None:
                return match.group()
            spaces += len(parts) - 1
            return " ".join(parts)

        return JOINED_CANDIDATE_RE.sub(replace, text), spaces

    def _any_split(self, tokens: set[str]) -> bool:
        """Whether a word of `tokens` needs a split; remembers the tokens that need none."""
        if len(self._whole_tokens) >= MAX_CACHED_DECISIONS:
            self._whole_tokens.clear()
        # One scan over all the new tokens: usually none needs a split and all
        # are remembered at once; otherwise each is looked at on its own.
        words = set(JOINED_CANDIDATE_RE.findall(" ".join(tokens)))
        if not any([self.split(word) for word in words]):
            self._whole_tokens.update(tokens)
            return False
        for token in tokens:
            if not any(self.split(word) for word in JOINED_CANDIDATE_RE.findall(token)):
                self._whole_tokens.add(token)
        return True

    def _split_all(self, word: str) -> tuple[str, ...]:
        cut = self.split_point(word)
        if cut is None:
            return (word,)
        return self._split_all(word[:cut]) + self._split_all(word[cut:])

    def _short_part_penalty(self, left: str, right: str) -> float:
        if self.pair_count(left, right) >= SEEN_PAIR_COUNT:
            return SEEN_SHORT_PART_PENALTY
        return SHORT_PART_PENALTY

    def spelling_log_prob(self, word: str) -> float:
        """log P(word's letters as one word) under the letter n-gram model (stupid backoff)."""
        log_probs = self.char_log_probs
        padded = WORD_START * (CHAR_ORDER - 1) + word + WORD_END
        total = 0.0
        for end in range(CHAR_ORDER, len(padded) + 1):
            penalty = 0.0
            for start in range(end - CHAR_ORDER, end):
                log_prob = log_probs.get(padded[start:end])
                if log_prob is not None:
                    total += log_prob + penalty
                    break
                penalty += _CHAR_BACKOFF_LOG
            else:
                total += UNSEEN_CHAR_LOG_PROB
        return total

    def _affixed_count(self, part: str) -> float:
        """The count an unseen `part` earns as a clitic plus a seen word (0 when it is not)."""
        for length in _proclitic_lengths(part):  # the longest clitic first
            stem = self.words.get(part[length:], 0)
            if stem:
                return AFFIXED_STEM_WEIGHT * stem
        return 0

    def _one_word_count(self, word: str) -> float:
        """The count `word` earns as one word: its own, or its stem's when it has affixes."""
        best = float(self.words.get(word, 0))
        for stem, affixes in _stems(word):
            count = self.words.get(stem, 0)
            if count:
                best = max(best, AFFIXED_STEM_WEIGHT**affixes * count)
        return best

    def _pair_log_count(
        self, left: str, right: str, left_count: float, right_count: float
    ) -> float:
        """log of how often the pair is expected in the corpus (stupid backoff when unseen)."""
        pair_count = self.pair_count(left, right)
        if pair_count:
            return math.log(pair_count)
        backoff = UNSEEN_PAIR_WEIGHT * left_count * right_count
        return math.log(backoff) - self._log_total


_CHAR_BACKOFF_LOG = math.log(CHAR_BACKOFF)
# Runs long enough to hold a lost space; not after # (a hashtag joins its words
# on purpose) nor starting inside a longer run.
JOINED_CANDIDATE_RE = re.compile(
    f"(?<![#\u0621-\u063a\u0641-\u064a])[\u0621-\u063a\u0641-\u064a]{{{MIN_JOINED_LENGTH},}}"
)


def _proclitic_lengths(word: str) -> list[int]:
    """Lengths of the proclitics `word` starts with, longest first, leaving a stem."""
    longest = min(_LONGEST_AFFIX, len(word) - MIN_STEM_LENGTH)
    return [n for n in range(longest, 0, -1) if word[:n] in _PROCLITIC_SET]


def _enclitic_lengths(word: str) -> list[int]:
    """Lengths of the endings `word` ends with, longest first, leaving a stem."""
    longest = min(_LONGEST_AFFIX, len(word) - MIN_STEM_LENGTH)
    return [n for n in range(longest, 0, -1) if word[-n:] in _ENCLITIC_SET]


_PROCLITIC_SET = frozenset(PROCLITICS)
_ENCLITIC_SET = frozenset(ENCLITICS)
_LONGEST_AFFIX = max(map(len, PROCLITICS + ENCLITICS))


def _stems(word: str) -> Iterator[tuple[str, int]]:
    """(stem, number of affixes) for each way of reading `word` as affixes around a stem."""
    prefixes = _proclitic_lengths(word)
    for start in prefixes:
        yield word[start:], 1
    for length in _enclitic_lengths(word):
        end = len(word) - length
        yield word[:end], 1
        for start in prefixes:
            if end - start >= MIN_STEM_LENGTH:
                yield word[start:end], 2


def _is_word_part(left: str, right: str) -> bool:
    """Whether this cut falls between a stem and its affix, or inside a compound name,
    rather than between two words."""
    if right in SUFFIX_LIKE or left in PREFIX_LIKE or _is_name_part(left, NAME_PREFIXES):
        return True
    if right in NAME_TAILS and _is_name_part(left, NAME_HEADS):
        return True
    # `كتابهما` is كتاب + the dual pronoun -هما, not كتابه + ما.
    return right == "ما" and left.endswith("ه")


def _is_name_part(left: str, parts: frozenset[str]) -> bool:
    """Whether `left` is one of `parts`, alone or after a clitic (`وعبد`)."""
    return left in parts or (left[0] in "وفبلك" and left[1:] in parts)


def count_words(texts: Iterable[str]) -> dict[str, int]:
    """Counts of words and of adjacent word pairs ("a b") over `texts`, by lexicon key.

    A pair is two whitespace tokens in a row that are both plain Arabic words, so
    punctuation, digits or a line break between two words keep them from pairing.
    """
    counts: dict[str, int] = {}
    for text in texts:
        text = _STRIP_RE.sub("", text)
        for word in ARABIC_WORD_RE.findall(text):
            counts[word] = counts.get(word, 0) + 1
        for line in text.splitlines():
            keys = [t if ARABIC_WORD_RE.fullmatch(t) else None for t in line.split()]
            for left, right in zip(keys, keys[1:], strict=False):
                if left and right:
                    pair = f"{left} {right}"
                    counts[pair] = counts.get(pair, 0) + 1
    return counts


def _followers_text(counts: dict[str, int]) -> dict[str, str]:
    """Pairs of `counts` grouped by left word, in the stored form, most frequent first."""
    grouped: dict[str, list[tuple[int, str]]] = {}
    for entry, count in counts.items():
        left, _, right = entry.partition(" ")
        if right:
            grouped.setdefault(left, []).append((-count, right))
    return {
        left: " ".join(f"{right}:{-negative}" for negative, right in sorted(pairs))
        for left, pairs in grouped.items()
    }


def write_lexicon(counts: dict[str, int], path: Path, cuts: dict[str, int]) -> int:
    """Write the words and pairs seen at least MIN_STORED_COUNT times; returns how many.

    One line per word, most frequent first: `word<TAB>count<TAB>cut<TAB>next:count ...`
    with where the word splits (empty when it stays whole, see known_cuts) and
    the words seen right after it, most frequent first.
    """
    kept = {entry: count for entry, count in counts.items() if count >= MIN_STORED_COUNT}
    followers = _followers_text(kept)
    words = sorted(((c, w) for w, c in kept.items() if " " not in w), key=lambda x: (-x[0], x[1]))
    lines = (f"{w}\t{c}\t{cuts.get(w, '')}\t{followers.get(w, '')}\n" for c, w in words)
    # mtime=0: the same counts give the same bytes, so a rebuild shows no diff.
    with gzip.GzipFile(path, "wb", mtime=0) as raw:
        raw.write("".join(lines).encode())
    return len(kept)


def build_lexicon(counts: dict[str, int]) -> Lexicon:
    """The lexicon of `counts` as it will be stored: rare entries out, letter model
    learnt, and the split of every word decided (write it with write_lexicon)."""
    kept = {entry: count for entry, count in counts.items() if count >= MIN_STORED_COUNT}
    lexicon = Lexicon.from_counts(kept)
    lexicon.known_cuts = lexicon.decide_known_words()
    return lexicon


def char_ngram_log_probs(words: Iterable[str]) -> dict[str, float]:
    """log P(last letter | the letters before it) of every letter n-gram of `words`.

    Orders 1 to CHAR_ORDER, over word types (each spelling once, so frequent
    function words do not drown the shapes of content words), word edges marked.
    """
    counts: dict[str, int] = {}
    contexts: dict[str, int] = {}
    for word in words:
        padded = WORD_START * (CHAR_ORDER - 1) + word + WORD_END
        for end in range(CHAR_ORDER, len(padded) + 1):
            for start in range(end - CHAR_ORDER, end):
                gram = padded[start:end]
                counts[gram] = counts.get(gram, 0) + 1
                contexts[gram[:-1]] = contexts.get(gram[:-1], 0) + 1
    # Rounded as stored, so decisions made at build time hold for the file.
    return {
        gram: round(math.log(count / contexts[gram[:-1]]), CHAR_LOG_PROB_DECIMALS)
        for gram, count in counts.items()
    }


def write_char_model(log_probs: dict[str, float], path: Path) -> int:
    """Write the letter n-gram log probabilities; returns how many."""
    lines = (f"{g}\t{p:.{CHAR_LOG_PROB_DECIMALS}f}\n" for g, p in sorted(log_probs.items()))
    with gzip.GzipFile(path, "wb", mtime=0) as raw:
        raw.write("".join(lines).encode())
    return len(log_probs)


def read_lexicon(path: Path, char_model_path: Path | None = None) -> Lexicon:
    """Load a lexicon written by write_lexicon (and its letter model, when given).

    A missing or bad file raises OSError/ValueError.
    """
    with gzip.open(path, "rb") as raw:
        text = raw.read().decode("utf-8")
    # One C-level split into word, count, followers, word...: a line-by-line
    # parse took most of a process's start-up.
    fields = iter(re.split("[\t\n]", text.rstrip("\n")))
    rows = list(zip(fields, map(int, fields), fields, fields, strict=True))
    words = {word: count for word, count, _, _ in rows}
    cuts = {word: int(cut) for word, _, cut, _ in rows if cut}
    followers = {word: after for word, _, _, after in rows if after}
    char_log_probs = _read_char_model(char_model_path)
    # The stored cuts were decided with the letter model: without it, decide afresh.
    known_cuts = cuts if char_model_path is not None else None
    return Lexicon(words, followers, char_log_probs=char_log_probs, known_cuts=known_cuts)


def _read_char_model(path: Path | None) -> dict[str, float]:
    if path is None:
        return {}
    with gzip.open(path, "rb") as raw:
        fields = iter(re.split("[\t\n]", raw.read().decode("utf-8").rstrip("\n")))
    return dict(zip(fields, map(float, fields), strict=True))


@cache
def load_lexicon() -> Lexicon:
    """The shipped lexicon and letter model, read once per process."""
    return read_lexicon(LEXICON_PATH, CHAR_MODEL_PATH)
