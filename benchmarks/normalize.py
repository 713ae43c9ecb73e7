"""Normalized articles per second on one core, beside a plain camel-tools anchor.

Reads SaudiNewsNet articles, builds the Articles first (not timed), then times
`processors.normalize.normalize` over all of them in this one process. The
anchor, timed in the same run on the same texts, is the least any Arabic
normalization does: camel-tools' normalize_unicode and dediac_ar over the title
and text. Target: >= 2,000 normalized articles/s per core.

    .venv/bin/python benchmarks/normalize.py ../shared/data/saudinewsnet/2015-08-06.zip
"""

from __future__ import annotations

import argparse
import json
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from camel_tools.utils.dediac import dediac_ar
from camel_tools.utils.normalize import normalize_unicode

from akhbar.article import Article
from processors.normalize import normalize

TARGET_PER_SECOND = 2_000
# Best of a few rounds: the machine is shared, the best round is the least disturbed.
ROUNDS = 3


def load_articles(path: Path, limit: int) -> list[Article]:
    with zipfile.ZipFile(path) as archive:
        raw = json.loads(archive.read(archive.namelist()[0]))
    return [
        Article.create(a["url"], title=a.get("title"), text=a.get("content") or "")
        for a in raw[:limit]
    ]


def best_rate(work: Callable[[], object], count: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return count / best


def measure(zip_path: Path, limit: int) -> tuple[float, float, int]:
    """(normalize articles/s, anchor articles/s, articles) on one core, best of ROUNDS."""
    articles = load_articles(zip_path, limit)
    normalize(articles[0])  # loads the lexicon and the character table, outside the timing

    def anchor() -> None:
        for a in articles:
            dediac_ar(normalize_unicode(f"{a.title or ''}\n{a.text}"))

    def full() -> None:
        for a in articles:
            normalize(a)

    anchor_rate = best_rate(anchor, len(articles))
    return best_rate(full, len(articles)), anchor_rate, len(articles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", type=Path, help="a SaudiNewsNet daily zip")
    parser.add_argument("--limit", type=int, default=2_000)
    args = parser.parse_args()
    articles = load_articles(args.zip, args.limit)
    chars = sum(len(a.text) for a in articles)
    print(f"{len(articles)} articles, {chars / len(articles):.0f} characters each on average")
    rate, anchor_rate, _count = measure(args.zip, args.limit)
    print(f"anchor (camel-tools normalize_unicode + dediac_ar): {anchor_rate:8.0f} articles/s")
    print(f"normalize (display, search, repairs, sentences):     {rate:8.0f} articles/s")
    print(
        f"ratio normalize/anchor: {rate / anchor_rate:.2f}; target {TARGET_PER_SECOND}/s per core"
    )


if __name__ == "__main__":
    main()
