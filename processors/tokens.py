"""The tokens of one display text, made once per article and read by every extractor.

Quantities, dates and quotes each walk the same words. Tokenizing and folding a
text costs more than any of the rule passes over it, so the enrich step makes
one `Tokens` per article and hands it to each of them. Offsets point into the
display text; keys are the tokens' search forms (`word_key`), taken from the
normalize stage's `search_text` when it lines up token for token, which saves
folding each word again.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import compress

from processors.arabic import search_form
from processors.entities import TOKEN_RE, word_key

TATWEEL = "\u0640"


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
        spans = [match.span() for match in TOKEN_RE.finditer(text)]
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

    def where(self, is_candidate: Callable[[str], bool]) -> list[int]:
        """Indices of the tokens whose key passes `is_candidate` (best a cached function):
        the rules then look only at these, not at every token."""
        if self._distinct is None:
            self._distinct = frozenset(self.keys)
        # Each distinct word is judged once; then one set look-up per token.
        chosen = set(filter(is_candidate, self._distinct))
        return list(compress(range(len(self.keys)), map(chosen.__contains__, self.keys)))


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
