"""Enrich throughput on SaudiNewsNet articles, per core, beside anchors from the same run.

    .venv/bin/python benchmarks/enrich.py ../shared/data/saudinewsnet [--articles 1000]

One process, one thread: the figures are per core. The articles are normalized
first (untimed), as the enrich stage receives them. Timed, each over the same
articles: two anchors, camel-tools' simple_word_tokenize (raw tokenization, the
least any Arabic text step does) and the normalize step; then the whole enrich
step (entities, quantities, quotes, dates, stories in a fresh SQLite file) and
the entity tagger alone. Reported: articles/s, tokens/s, and each figure's ratio
to the tokenization anchor. Targets: >= 200 articles/s and >= 50,000 tokens/s.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import click
from camel_tools.tokenizers.word import simple_word_tokenize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akhbar.article import Article  # noqa: E402
from processors.enrich import Enricher  # noqa: E402
from processors.normalize import normalize  # noqa: E402
from scripts.saudinewsnet import read_articles  # noqa: E402

# Enough articles for a stable rate on a shared machine in well under a minute.
DEFAULT_ARTICLES = 1000


def timed(articles: Sequence[Article], step: Callable[[Article], object]) -> float:
    start = time.perf_counter()
    for article in articles:
        step(article)
    seconds = time.perf_counter() - start
    return seconds


def measure(folder: Path, count: int) -> tuple[int, int, dict[str, float]]:
    """(articles, tokens, seconds per step label) over `count` articles on one core."""
    raw = [a for _, a in zip(range(count), read_articles(folder, days=1), strict=False)]
    normalized = [normalize(a) for a in raw]
    tokens = sum(a.token_count or 0 for a in normalized)
    with tempfile.TemporaryDirectory() as tmp:
        enricher = Enricher(Path(tmp) / "stories.sqlite")
        enricher.enrich(normalized[0])  # load the model and resources outside the timing
        runs = {
            "tokenize (anchor)": timed(raw, lambda a: simple_word_tokenize(a.text)),
            "normalize (anchor)": timed(raw, normalize),
            "entities only": timed(
                normalized, lambda a: enricher.tagger.entities(a.display_text or "")
            ),
            "enrich": timed(normalized, enricher.enrich),
        }
    return len(raw), tokens, runs


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--articles", "count", type=int, default=DEFAULT_ARTICLES)
def main(folder: Path, count: int) -> None:
    articles, tokens, runs = measure(folder, count)
    anchor = runs["tokenize (anchor)"]
    click.echo(f"{articles} articles, {tokens} tokens, one core")
    click.echo(f"{'step':<20} {'articles/s':>11} {'tokens/s':>10} {'time vs tokenize':>17}")
    for label, seconds in runs.items():
        rates = f"{articles / seconds:11.1f} {tokens / seconds:10.0f}"
        click.echo(f"{label:<20} {rates} {seconds / anchor:16.1f}x")


if __name__ == "__main__":
    main()
