"""Score quantity extraction against Wojood's CARDINAL, QUANTITY, MONEY and PERCENT spans.

    .venv/bin/python -m scripts.evaluate_quantities ../shared/data/wojood-sample/*.txt

Wojood's files hold one token a line with one or more IOB2 tags (nested entities).
Each sentence's tokens are joined with spaces and given to the extractor; its
character spans are mapped back to tokens. Two scores are printed: overlap (a
found quantity that overlaps a gold number span of any of the four types, and a
gold span that a found quantity overlaps) and exact (same first and last token;
Wojood's CARDINAL leaves out the counted noun that a found quantity includes, so
exact is only meaningful for MONEY and PERCENT).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from processors.quantities import extract_quantities

GOLD_TYPES = ("CARDINAL", "QUANTITY", "MONEY", "PERCENT")
KIND_TO_TYPE = {"money": "MONEY", "percent": "PERCENT"}

Sentence = list[tuple[str, list[str]]]
Span = tuple[int, int]


def read_sentences(path: Path) -> list[Sentence]:
    sentences: list[Sentence] = []
    current: Sentence = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts:
            if current:
                sentences.append(current)
            current = []
        elif parts[0] != "$#$":
            current.append((parts[0], parts[1:]))
    if current:
        sentences.append(current)
    return sentences


def gold_spans(sentence: Sentence) -> dict[Span, str]:
    found: dict[Span, str] = {}
    for kind in GOLD_TYPES:
        start = None
        for i, (_token, tags) in enumerate([*sentence, ("", [])]):
            if f"I-{kind}" in tags and start is not None:
                continue
            if start is not None:
                found[(start, i - 1)] = kind
                start = None
            if f"B-{kind}" in tags:
                start = i
    return found


def predicted_spans(sentence: Sentence) -> dict[Span, str]:
    offsets, position = [], 0
    for token, _tags in sentence:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    text = " ".join(token for token, _tags in sentence)
    found = {}
    for quantity in extract_quantities(text):
        covered = [i for i, (s, e) in enumerate(offsets) if s < quantity.end and e > quantity.start]
        if covered:
            found[(covered[0], covered[-1])] = quantity.kind
    return found


def overlaps(span: Span, others: dict[Span, str]) -> bool:
    return any(span[0] <= o[1] and o[0] <= span[1] for o in others)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def main(paths: tuple[Path, ...]) -> None:
    counts: Counter[str] = Counter()
    for path in paths:
        for sentence in read_sentences(path):
            gold, predicted = gold_spans(sentence), predicted_spans(sentence)
            counts["gold"] += len(gold)
            counts["predicted"] += len(predicted)
            counts["precise"] += sum(overlaps(p, gold) for p in predicted)
            counts["recalled"] += sum(overlaps(g, predicted) for g in gold)
            for span, kind in gold.items():
                if kind in ("MONEY", "PERCENT"):
                    counts[f"gold {kind}"] += 1
                    hit = KIND_TO_TYPE.get(predicted.get(span, "")) == kind
                    counts[f"exact {kind}"] += hit
    precision = counts["precise"] / max(1, counts["predicted"])
    recall = counts["recalled"] / max(1, counts["gold"])
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    click.echo(f"gold spans {counts['gold']}, found {counts['predicted']}")
    click.echo(f"overlap: precision {precision:.3f} recall {recall:.3f} F1 {f1:.3f}")
    for kind in ("MONEY", "PERCENT"):
        total = counts[f"gold {kind}"]
        click.echo(f"exact span and kind, {kind}: {counts[f'exact {kind}']}/{total}")


if __name__ == "__main__":
    main()
