"""Entity tagger throughput on SaudiNewsNet articles, one core, beside an anchor from the same run.

    .venv/bin/python benchmarks/entities.py ../shared/data/saudinewsnet [--articles 1000]

The articles are normalized first (untimed), as the enrich stage receives them,
and the tagger is loaded and warmed on one article outside the timing. Timed over
the same display texts, in turn, each pass over all articles:

* camel-tools' simple_word_tokenize (the anchor: the least any Arabic text step does),
* the features alone as strings, the way training and crfsuite see them (`document_parts`;
  the tagger itself looks their weights up in tables and builds no strings per position),
* the whole tagger, `EntityTagger.entities` with the sentences, as the enrich stage calls it,
* the same model decoded by crfsuite from feature strings (the way the tagger used to work).

Each is printed as tokens/s and as time relative to the anchor; the target is >= 150,000
tokens/s for the whole tagger. Times are the process's CPU time, not the wall clock: on a
shared machine the wall clock also counts the time other processes held the core. The rounds
are repeated and the fastest kept.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import click
from camel_tools.tokenizers.word import simple_word_tokenize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akhbar.article import Article  # noqa: E402
from processors.entities import EntityTagger, document_parts, tokenize  # noqa: E402
from processors.normalize import normalize  # noqa: E402
from scripts.saudinewsnet import read_articles  # noqa: E402

# Enough articles for a stable rate on a shared machine in well under a minute.
DEFAULT_ARTICLES = 1000
# The fastest of a few rounds: other processes on a shared machine only ever slow a round down.
ROUNDS = 3


def fastest(articles: Sequence[Article], step: Callable[[Article], object]) -> float:
    best = float("inf")
    for _round in range(ROUNDS):
        start = time.process_time()
        for article in articles:
            step(article)
        best = min(best, time.process_time() - start)
    return best


def sentence_texts(article: Article) -> list[list[str]]:
    text = article.display_text or ""
    spans = [(s.start, s.end) for s in article.sentences or []] or [(0, len(text))]
    return [[t for t, _s, _e in tokenize(text[start:end])] for start, end in spans]


def tag(tagger: EntityTagger, article: Article) -> object:
    sentences = [(s.start, s.end) for s in article.sentences or []] or None
    return tagger.entities(article.display_text or "", sentences)


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--articles", "count", type=int, default=DEFAULT_ARTICLES)
def main(folder: Path, count: int) -> None:
    raw = [a for _, a in zip(range(count), read_articles(folder, days=1), strict=False)]
    articles = [normalize(a) for a in raw]
    tokens = sum(len(s) for a in articles for s in sentence_texts(a))
    tagger = EntityTagger()
    tag(tagger, articles[0])
    runs = {
        "tokenize (anchor)": fastest(
            articles, lambda a: simple_word_tokenize(a.display_text or "")
        ),
        "features only": fastest(articles, lambda a: document_parts(sentence_texts(a))),
        "tagger": fastest(articles, lambda a: tag(tagger, a)),
        "crfsuite decoding": fastest(articles, lambda a: tagger.reference_tags(sentence_texts(a))),
    }
    anchor = runs["tokenize (anchor)"]
    click.echo(f"{len(articles)} articles, {tokens} tokens, one core, best of {ROUNDS} rounds")
    click.echo(f"{'step':<20} {'articles/s':>11} {'tokens/s':>10} {'time vs tokenize':>17}")
    for label, seconds in runs.items():
        rates = f"{len(articles) / seconds:11.1f} {tokens / seconds:10.0f}"
        click.echo(f"{label:<20} {rates} {seconds / anchor:16.1f}x")


if __name__ == "__main__":
    main()
