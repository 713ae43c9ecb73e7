"""Enrich throughput on SaudiNewsNet articles, per core, beside anchors from the same run.

    .venv/bin/python benchmarks/enrich.py ../shared/data/saudinewsnet [--articles 1000]

One process, one thread, timed in CPU seconds of the process: the figures are
per core, and other work on a shared machine does not count. The articles are normalized
first (untimed), as the enrich stage receives them. Timed, each over the same
articles: two anchors, camel-tools' simple_word_tokenize (raw tokenization, the
least any Arabic text step does) and the normalize step; the whole enrich step
(stories in a fresh SQLite file), and again with the tagger's form tables already
filled (as in a stage that has run a while); then each of its parts alone, on the
inputs the step gives it (entities tagged sentence by sentence; the shared tokens;
quantities, quotes, dates from those tokens; stories in another fresh file).
The parts' sum beside the whole shows what composing them costs. Reported:
articles/s, tokens/s, and each figure's time against the tokenization anchor.
Targets: >= 200 articles/s and >= 50,000 tokens/s for the whole step.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import click
from camel_tools.tokenizers.word import simple_word_tokenize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akhbar.article import Article  # noqa: E402
from processors.dates import extract_dates  # noqa: E402
from processors.enrich import Enricher  # noqa: E402
from processors.entities import Entity  # noqa: E402
from processors.normalize import normalize  # noqa: E402
from processors.quantities import extract_quantities  # noqa: E402
from processors.quotes import extract_quotes  # noqa: E402
from processors.stories import StoryIndex  # noqa: E402
from processors.tokens import Tokens  # noqa: E402
from scripts.saudinewsnet import read_articles  # noqa: E402

# Enough articles for a stable rate on a shared machine in well under a minute.
DEFAULT_ARTICLES = 1000
T = TypeVar("T")
PARTS = ("entities", "tokens", "quantities", "quotes", "dates", "stories")


def timed(items: Sequence[T], step: Callable[[T], object]) -> float:
    """CPU seconds of `step` over `items`: on a shared machine, time waiting
    for the core is not the step's."""
    start = time.process_time()
    for item in items:
        step(item)
    return time.process_time() - start


class Prepared:
    """One article as the enrich step sees it, with what its parts take as input."""

    def __init__(self, article: Article, enricher: Enricher) -> None:
        self.article = article
        self.text = article.display_text or ""
        self.sentences = [(s.start, s.end) for s in article.sentences or []] or [
            (0, len(self.text))
        ]
        self.tokens = Tokens.of(self.text, article.search_text)
        self.entities: list[Entity] = enricher.tagger.entities(
            self.text, self.sentences, self.tokens.spans
        )


def part_steps(tmp: Path, enricher: Enricher) -> dict[str, Callable[[Prepared], object]]:
    stories = StoryIndex(tmp / "parts-stories.sqlite")
    return {
        "entities": lambda p: enricher.tagger.entities(p.text, p.sentences, p.tokens.spans),
        "tokens": lambda p: Tokens.of(p.text, p.article.search_text),
        "quantities": lambda p: extract_quantities(p.text, p.tokens),
        "quotes": lambda p: extract_quotes(p.text, p.entities, p.sentences, p.tokens),
        "dates": lambda p: extract_dates(p.text, p.article.published_at, p.tokens),
        "stories": lambda p: stories.assign(
            p.article.id,
            p.article.search_text or "",
            p.article.published_at or p.article.fetched_at,
        ),
    }


def measure(folder: Path, count: int) -> tuple[int, int, dict[str, float]]:
    """(articles, tokens, seconds per step label) over `count` articles on one core."""
    raw = [a for _, a in zip(range(count), read_articles(folder, days=1), strict=False)]
    normalized = [normalize(a) for a in raw]
    tokens = sum(a.token_count or 0 for a in normalized)
    with tempfile.TemporaryDirectory() as tmp:
        enricher = Enricher(Path(tmp) / "stories.sqlite")
        enricher.enrich(normalized[0])  # load the model and resources outside the timing
        prepared = [Prepared(a, enricher) for a in normalized]
        runs = {
            "tokenize (anchor)": timed(raw, lambda a: simple_word_tokenize(a.text)),
            "normalize (anchor)": timed(raw, normalize),
            "enrich": timed(normalized, enricher.enrich),
        }
        # Again with the tagger's tables filled by the first pass, as in a stage that has
        # been running a while (a fresh story index, so the stories are assigned anew).
        warm = Enricher(Path(tmp) / "warm-stories.sqlite")
        warm.tagger = enricher.tagger
        runs["enrich (warm tagger)"] = timed(normalized, warm.enrich)
        for part, step in part_steps(Path(tmp), enricher).items():
            runs[f"  {part}"] = timed(prepared, step)
    runs["  sum of parts"] = sum(runs[f"  {part}"] for part in PARTS)
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
        click.echo(f"{label:<20} {rates} {seconds / anchor:16.2f}x")


if __name__ == "__main__":
    main()
