"""Score quantity extraction against Wojood's CARDINAL, QUANTITY, MONEY and PERCENT spans.

    .venv/bin/python -m scripts.evaluate_quantities ../shared/data/wojood-sample/*.txt

Wojood's files hold one token a line with one or more IOB2 tags (nested entities).
Each sentence's tokens are joined with spaces and given to the extractor; its
character spans are mapped back to tokens. Two scores are printed: overlap (a
found quantity that overlaps a gold number span of any of the four types, and a
gold span that a found quantity overlaps) and exact (same first and last token;
Wojood's CARDINAL leaves out the counted noun that a found quantity includes, so
exact is only meaningful for MONEY and PERCENT). A third score, number part,
compares the number alone (no approximator, no counted noun) with CARDINAL and
QUANTITY spans, and whole quantities with MONEY and PERCENT spans, exactly.

Wojood marks durations (`8 سنوات`, `30 دقيقة`) as DATE or TIME, not as numbers; a
found quantity of kind duration that lies on such a span is left out of the
scores and counted on its own line.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from processors.quantities import extract_quantities, number_span

GOLD_TYPES = ("CARDINAL", "QUANTITY", "MONEY", "PERCENT")
TIME_TYPES = ("DATE", "TIME")
# Gold types whose spans hold the number alone.
NUMBER_ONLY_TYPES = ("CARDINAL", "QUANTITY")
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


def gold_spans(sentence: Sentence, types: tuple[str, ...] = GOLD_TYPES) -> dict[Span, str]:
    found: dict[Span, str] = {}
    for kind in types:
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


def predicted(sentence: Sentence) -> list[tuple[Span, Span, str]]:
    """(token span, token span of the number alone, kind) of each found quantity."""
    offsets, position = [], 0
    for token, _tags in sentence:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    text = " ".join(token for token, _tags in sentence)
    found = []
    for quantity in extract_quantities(text):
        whole = _covered(offsets, quantity.start, quantity.end)
        number = _covered(offsets, *number_span(quantity))
        if whole is not None:
            found.append((whole, number or whole, quantity.kind))
    return found


def _covered(offsets: list[tuple[int, int]], start: int, end: int) -> Span | None:
    covered = [i for i, (s, e) in enumerate(offsets) if s < end and e > start]
    return (covered[0], covered[-1]) if covered else None


def overlaps(span: Span, others: dict[Span, str]) -> bool:
    return any(span[0] <= o[1] and o[0] <= span[1] for o in others)


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def main(paths: tuple[Path, ...]) -> None:
    counts: Counter[str] = Counter()
    for path in paths:
        for sentence in read_sentences(path):
            score_sentence(sentence, counts)
    precision = counts["precise"] / max(1, counts["predicted"])
    recall = counts["recalled"] / max(1, counts["gold"])
    click.echo(f"gold spans {counts['gold']}, found {counts['predicted']}")
    click.echo(
        f"overlap: precision {precision:.3f} recall {recall:.3f} F1 {f1(precision, recall):.3f}"
    )
    for kind in ("MONEY", "PERCENT"):
        total = counts[f"gold {kind}"]
        click.echo(f"exact span and kind, {kind}: {counts[f'exact {kind}']}/{total}")
    precision = counts["number exact"] / max(1, counts["predicted"])
    recall = counts["number exact"] / max(1, counts["gold"])
    click.echo(
        f"number part, exact: precision {precision:.3f} recall {recall:.3f}"
        f" F1 {f1(precision, recall):.3f}"
    )
    click.echo(f"durations on Wojood DATE/TIME spans, left out: {counts['durations']}")


def score_sentence(sentence: Sentence, counts: Counter[str]) -> None:
    gold = gold_spans(sentence)
    times = gold_spans(sentence, TIME_TYPES)
    found = [
        (whole, number, kind)
        for whole, number, kind in predicted(sentence)
        if not (kind == "duration" and overlaps(whole, times) and not overlaps(whole, gold))
    ]
    counts["durations"] += len(predicted(sentence)) - len(found)
    wholes = {whole: kind for whole, _number, kind in found}
    counts["gold"] += len(gold)
    counts["predicted"] += len(found)
    counts["precise"] += sum(overlaps(p, gold) for p in wholes)
    counts["recalled"] += sum(overlaps(g, wholes) for g in gold)
    for span, kind in gold.items():
        if kind in ("MONEY", "PERCENT"):
            counts[f"gold {kind}"] += 1
            counts[f"exact {kind}"] += KIND_TO_TYPE.get(wholes.get(span, "")) == kind
    numbers = {number for _whole, number, _kind in found}
    counts["number exact"] += sum(
        (span in numbers) if kind in NUMBER_ONLY_TYPES else (span in wholes)
        for span, kind in gold.items()
    )


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / max(1e-9, precision + recall)


if __name__ == "__main__":
    main()
