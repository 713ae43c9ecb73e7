"""Score quote extraction and speakers against paragraphs labelled by reading.

    .venv/bin/python -m scripts.evaluate_quotes benchmarks/labels/quotes.jsonl [--errors]

Each line of the labels file holds a paragraph of display text and every quote
in it: words attributed to a speaker by quotation marks or by a reporting verb
and its clause, with the offset of the quoted words and the speaker as named in
the paragraph (null when the paragraph does not name one). Each paragraph goes
through the shipped entity tagger and the quote extractor. Printed: precision,
recall and F1 of found quotes paired with labelled ones by overlap (each at most
once) and by a tighter rule (the two share at least half of the shorter), and,
over the overlapping pairs, how often the speaker is right: the same words after
folding, or one name inside the other (`أحمد الخازم` in `الدكتور أحمد الخازم`).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from processors.arabic import sentence_spans
from processors.entities import EntityTagger, word_key
from processors.quotes import Quote, extract_quotes
from scripts.span_scores import Span, Tally, match, overlap

# Pairs sharing at least this share of the shorter span count as the same quote.
TIGHT_SHARE = 0.5


@click.command()
@click.argument("labels", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--errors", is_flag=True, help="Print every miss, extra find and wrong speaker.")
def main(labels: Path, errors: bool) -> None:
    tagger = EntityTagger()
    loose, tight = Tally(), Tally()
    speakers = {"same": 0, "inside": 0}
    for line in labels.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        text = item["text"]
        sentences = sentence_spans(text)
        found = extract_quotes(text, tagger.entities(text, sentences), sentences)
        gold = [(q["start"], q["start"] + len(q["text"])) for q in item["quotes"]]
        spans = [(q.start, q.end) for q in found]
        pairs = match(gold, spans)
        close = [(g, f) for g, f in pairs if _share(gold[g], spans[f]) >= TIGHT_SHARE]
        for tally, matched in ((loose, pairs), (tight, close)):
            tally.gold += len(gold)
            tally.found += len(spans)
            tally.matched += len(matched)
        for g, f in pairs:
            verdict = speaker_verdict(item["quotes"][g]["speaker"], found[f].speaker)
            speakers[verdict] = speakers.get(verdict, 0) + 1
            if errors and verdict == "wrong":
                click.echo(f"speaker {found[f].speaker!r} != {item['quotes'][g]['speaker']!r}")
        if errors:
            show_unpaired(text, gold, found, pairs)
    click.echo(loose.line("quotes, overlap"))
    click.echo(tight.line(f"quotes, sharing >= {TIGHT_SHARE:.0%} of the shorter"))
    right = speakers["same"] + speakers["inside"]
    click.echo(
        f"speaker right: {right}/{loose.matched} ({speakers['same']} same,"
        f" {speakers['inside']} one name inside the other)"
    )


def _share(gold: Span, found: Span) -> float:
    return overlap(gold, found) / max(1, min(gold[1] - gold[0], found[1] - found[0]))


def speaker_verdict(gold: str | None, found: str | None) -> str:
    """same, inside (one name's words all in the other's) or wrong."""
    if gold is None or found is None:
        return "same" if gold == found else "wrong"
    gold_words, found_words = _words(gold), _words(found)
    if gold_words == found_words:
        return "same"
    if gold_words and found_words and (gold_words <= found_words or found_words <= gold_words):
        return "inside"
    return "wrong"


def _words(name: str) -> set[str]:
    return {word_key(word.strip("«»")) for word in name.split()}


def show_unpaired(
    text: str, gold: list[Span], found: list[Quote], pairs: list[tuple[int, int]]
) -> None:
    for g, (start, end) in enumerate(gold):
        if g not in {p[0] for p in pairs}:
            click.echo(f"missed {text[start:end][:80]!r}")
    for f, quote in enumerate(found):
        if f not in {p[1] for p in pairs}:
            click.echo(f"extra  {quote.text[:80]!r} ({quote.speaker})")


if __name__ == "__main__":
    main()
