"""Matching found spans to labelled spans, and the precision, recall and F1 of the match."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Span = tuple[int, int]


@dataclass
class Tally:
    """Counts of one scoring run: labelled spans, found spans, matched pairs."""

    gold: int = 0
    found: int = 0
    matched: int = 0

    def line(self, label: str) -> str:
        precision = self.matched / max(1, self.found)
        recall = self.matched / max(1, self.gold)
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        return (
            f"{label}: precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}"
            f" ({self.matched} matched, {self.found} found, {self.gold} labelled)"
        )


def overlap(a: Span, b: Span) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def match(
    gold: Sequence[Span], found: Sequence[Span], exact: bool = False
) -> list[tuple[int, int]]:
    """Pairs (gold index, found index), each span in at most one pair: exact
    pairs need the same offsets, others the largest overlap first."""
    if exact:
        where = {span: i for i, span in enumerate(found)}
        return [(g, where[span]) for g, span in enumerate(gold) if span in where]
    candidates = sorted(
        (
            (overlap(g_span, f_span), g, f)
            for g, g_span in enumerate(gold)
            for f, f_span in enumerate(found)
            if overlap(g_span, f_span) > 0
        ),
        reverse=True,
    )
    pairs, used_gold, used_found = [], set(), set()
    for _size, g, f in candidates:
        if g not in used_gold and f not in used_found:
            pairs.append((g, f))
            used_gold.add(g)
            used_found.add(f)
    return sorted(pairs)
