"""Scoring a named-entity tagger on CoNLL-style gold files (one `token TAG` a line, IOB2)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from akhbar.errors import AkhbarError

Sentence = tuple[list[str], list[str]]
TYPES = ("PERS", "LOC", "ORG", "MISC")
# Sentences per document when a gold file has no document boundaries (ANERcorp):
# about one news article's worth, so document features see what they see in service.
DOCUMENT_SENTENCES = 12


class GoldFileError(AkhbarError):
    """A gold file cannot be read as `token TAG` lines."""


def read_conll(path: Path) -> list[Sentence]:
    """Sentences of a gold file; blank lines separate sentences.

    A line with a token but no tag is taken as O (ANERcorp has one such line);
    a file with no tagged line at all raises GoldFileError.
    """
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts:
            if tokens:
                sentences.append((tokens, tags))
            tokens, tags = [], []
            continue
        tokens.append(parts[0])
        tags.append(_tag(parts[-1]) if len(parts) > 1 else "O")
    if tokens:
        sentences.append((tokens, tags))
    if not sentences:
        raise GoldFileError(f"{path}: no tagged tokens")
    return sentences


def documents(sentences: Sequence[Sentence]) -> list[Sequence[Sentence]]:
    """Consecutive sentences in blocks of DOCUMENT_SENTENCES, each tagged as one document."""
    return [
        sentences[i : i + DOCUMENT_SENTENCES] for i in range(0, len(sentences), DOCUMENT_SENTENCES)
    ]


def _tag(raw: str) -> str:
    if raw == "O" or raw[:2] in ("B-", "I-"):
        return raw
    return "O"


def spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(start, end, type) token spans of IOB2 tags; a stray I- opens a span."""
    found = []
    start, kind = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        inside = tag.startswith("I-") and tag[2:] == kind and start >= 0
        if inside:
            continue
        if start >= 0:
            found.append((start, i, kind))
            start, kind = -1, ""
        if tag != "O":
            start, kind = i, tag[2:]
    return found


@dataclass
class Score:
    """Entity-level counts, CoNLL style: a hit needs the exact span and type."""

    true_positive: Counter[str] = field(default_factory=Counter)
    predicted: Counter[str] = field(default_factory=Counter)
    gold: Counter[str] = field(default_factory=Counter)

    def add(self, gold_tags: Sequence[str], predicted_tags: Sequence[str]) -> None:
        gold = set(spans(gold_tags))
        predicted = set(spans(predicted_tags))
        self.gold.update(kind for _s, _e, kind in gold)
        self.predicted.update(kind for _s, _e, kind in predicted)
        self.true_positive.update(kind for _s, _e, kind in gold & predicted)

    def merge(self, other: Score) -> None:
        self.true_positive.update(other.true_positive)
        self.predicted.update(other.predicted)
        self.gold.update(other.gold)

    def prf(self, kind: str | None = None) -> tuple[float, float, float]:
        """Precision, recall, F1 for one type, or micro-averaged over all with None."""
        if kind is None:
            tp, pred, gold = (
                sum(c.values()) for c in (self.true_positive, self.predicted, self.gold)
            )
        else:
            tp, pred, gold = self.true_positive[kind], self.predicted[kind], self.gold[kind]
        precision = tp / pred if pred else 0.0
        recall = tp / gold if gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return precision, recall, f1

    def report(self) -> str:
        lines = [f"{'type':<6} {'P':>6} {'R':>6} {'F1':>6} {'gold':>6}"]
        for kind in [None, *sorted(self.gold | self.predicted)]:
            p, r, f = self.prf(kind)
            support = sum(self.gold.values()) if kind is None else self.gold[kind]
            lines.append(f"{kind or 'micro':<6} {p:6.3f} {r:6.3f} {f:6.3f} {support:6d}")
        return "\n".join(lines)


def score(gold: Iterable[Sentence], predicted: Iterable[Sequence[str]]) -> Score:
    total = Score()
    for (_tokens, gold_tags), predicted_tags in zip(gold, predicted, strict=True):
        total.add(gold_tags, predicted_tags)
    return total
