"""Score date extraction against paragraphs labelled by reading.

    .venv/bin/python -m scripts.evaluate_dates benchmarks/labels/dates.jsonl [--errors]

Each line of the labels file holds a paragraph of display text, the time its
article was recorded as published, and every expression in it that names a
calendar day, with its offset and its ISO date (null when the text and the
publication time cannot tell it). Printed: precision, recall and F1 of the
found spans, exactly and by overlap (each span paired at most once), and the
share of overlapping pairs whose resolved value is right.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from processors.dates import extract_dates
from scripts.span_scores import Tally, match


@click.command()
@click.argument("labels", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--errors", is_flag=True, help="Print every miss, extra find and wrong value.")
def main(labels: Path, errors: bool) -> None:
    exact, overlapping = Tally(), Tally()
    right_values = 0
    for line in labels.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        text = item["text"]
        gold = [(d["start"], d["start"] + len(d["text"])) for d in item["dates"]]
        found = extract_dates(text, datetime.fromisoformat(item["published_at"]))
        spans = [(d.start, d.end) for d in found]
        for tally, pairs in (
            (exact, match(gold, spans, exact=True)),
            (overlapping, match(gold, spans)),
        ):
            tally.gold += len(gold)
            tally.found += len(spans)
            tally.matched += len(pairs)
        pairs = match(gold, spans)
        for g, f in pairs:
            right = item["dates"][g]["value"] == found[f].value
            right_values += right
            if errors and not right:
                click.echo(
                    f"value  {found[f].text!r} {found[f].value} != {item['dates'][g]['value']}"
                )
        if errors:
            show_unpaired(text, gold, spans, pairs)
    click.echo(exact.line("spans, exact"))
    click.echo(overlapping.line("spans, overlap"))
    click.echo(f"resolved value right: {right_values}/{overlapping.matched}")


def show_unpaired(
    text: str,
    gold: list[tuple[int, int]],
    found: list[tuple[int, int]],
    pairs: list[tuple[int, int]],
) -> None:
    for g, (start, end) in enumerate(gold):
        if g not in {p[0] for p in pairs}:
            click.echo(f"missed {text[start:end]!r} in …{text[max(0, start - 30) : end + 30]}…")
    for f, (start, end) in enumerate(found):
        if f not in {p[1] for p in pairs}:
            click.echo(f"extra  {text[start:end]!r} in …{text[max(0, start - 30) : end + 30]}…")


if __name__ == "__main__":
    main()
