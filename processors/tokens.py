"""The tokens of one display text, made once per article and read by every extractor.

Quantities, dates and quotes each walk the same words. Tokenizing and folding a
text costs more than any of the rule passes over it, so the enrich step makes
one `Tokens` per article and hands it to each of them. Offsets point into the
display text; keys are the tokens' search forms (`word_key`), taken from the
normalize stage's `search_text` when it lines up token for token, which saves
folding each word again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import compress

from processors.arabic import search_form
from processors.entities import TOKEN_RE, word_key

TATWEEL = "\u0640"
# Keys a WordClass remembers before it starts afresh; a day of news has far fewer.
WORD_CLASS_LIMIT = 200_000


class Tokens:
    """Token keys and offsets of one display text; built by `Tokens.of`, never fails on text."""

    __slots__ = ("text", "keys", "spans", "_distinct")

    def __init__(self, text: str, keys: list[str], spans: list[tuple[int, int]]) -> None:
        self.text = text
        self.keys = keys
        self.spans = spans
        self._distinct: frozenset[str] | None = None

    @classmethod
    def of(cls, text: str, search_text: str | None = None) -> Tokens:
        """The tokens of display `text`; `search_text` is its search form when already made."""
        # Mapping the method over the matches spares a Python-level call per token.
        spans = list(map(re.Match.span, TOKEN_RE.finditer(text)))
        keys = _aligned_keys(text, search_text, len(spans))
        return cls(text, keys, spans)

    def __len__(self) -> int:
        return len(self.keys)

    def word(self, i: int) -> str:
        """Token `i` as written in the display text."""
        start, end = self.spans[i]
        return self.text[start:end]

    def start(self, i: int) -> int:
        return self.spans[i][0]

    def end(self, i: int) -> int:
        return self.spans[i][1]

    @property
    def distinct(self) -> frozenset[str]:
        """The distinct keys, made once: the rules judge words, not every occurrence."""
        if self._distinct is None:
            self._distinct = frozenset(self.keys)
        return self._distinct

    def where(self, is_candidate: Callable[[str], bool]) -> list[int]:
        """Indices of the tokens whose key passes `is_candidate`, a pure test of the key:
        the rules then look only at these, not at every token."""
        chosen = word_class(is_candidate).members(self.distinct)
        if not chosen:
            return []
        return list(compress(range(len(self.keys)), map(chosen.__contains__, self.keys)))


class WordClass:
    """The keys a pure test accepts, remembered as it meets them; made by `word_class`.

    News repeats its vocabulary, so after a few articles nearly every key of a
    new one has been judged: the keys that pass are then found by two set
    operations in C instead of a call per distinct key. Forgets everything when
    it has judged more than WORD_CLASS_LIMIT keys, to bound memory.
    """

    __slots__ = ("_test", "_members", "_judged")

    def __init__(self, test: Callable[[str], bool]) -> None:
        self._test = test
        self._members: set[str] = set()
        self._judged: set[str] = set()

    def members(self, keys: frozenset[str]) -> frozenset[str]:
        """Those of `keys` the test accepts."""
        new = keys.difference(self._judged)
        if new:
            if len(self._judged) > WORD_CLASS_LIMIT:
                self._members.clear()
                self._judged.clear()
                new = keys
            self._members.update(filter(self._test, new))
            self._judged.update(new)
        return keys.intersection(self._members)


_WORD_CLASSES: dict[Callable[[str], bool], WordClass] = {}


def word_class(test: Callable[[str], bool]) -> WordClass:
    """The one WordClass of `test`, shared by every article."""
    word_class = _WORD_CLASSES.get(test)
    if word_class is None:
        word_class = _WORD_CLASSES[test] = WordClass(test)
    return word_class


def _aligned_keys(text: str, search_text: str | None, count: int) -> list[str]:
    """Word keys of the tokens of `text`, one per token.

    The search form only drops diacritics and tatweel and swaps letters and
    digits for others of the same class, so its tokens are the display tokens
    folded, one for one, unless a lone mark made a token of its own; then the
    counts differ and each token is folded by itself.
    """
    folded = (search_text if search_text is not None else search_form(text)).replace(TATWEEL, "")
    keys: list[str] = TOKEN_RE.findall(folded)
    if len(keys) == count:
        return keys
    return [word_key(match.group()) for match in TOKEN_RE.finditer(text)]
