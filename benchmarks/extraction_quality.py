"""Main-text quality through the ingest path, on the article-extraction benchmark.

Each page of the benchmark is served by the local fixture site and goes through
the fetch stage's step (fetch, decode, clean), exactly as a discovered article
would. The text is scored against the page's `articleBody` with the benchmark's
metric (reimplemented from its description): per page, true and false positives
and false negatives of 4-word shingles, as shares of their sum; precision and
recall averaged over pages, F1 from the averages. In the same run, trafilatura's `extract` with its
defaults, on the same bytes read from disk, is scored as the anchor.

    python benchmarks/extraction_quality.py PATH/TO/extraction-benchmark
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

import trafilatura
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akhbar.article import Article  # noqa: E402
from ingest.fetch import PageFetcher, decode_html  # noqa: E402
from ingest.fixture_server import FixtureServer  # noqa: E402
from ingest.stage import FetchStep  # noqa: E402

SHINGLE = 4
# The benchmark's tokens: runs of word characters, so punctuation never splits a match.
WORD = re.compile(r"\w+")

# Per page: true positives, false positives, false negatives, as shares of their sum.
Counts = tuple[float, float, float]


def shingle_counts(text: str) -> Counter[tuple[str, ...]]:
    """4-word shingles with multiplicity; a text shorter than 4 words is one shingle."""
    words = WORD.findall(text or "")
    last = max(1, len(words) - SHINGLE + 1)
    return Counter(tuple(words[i : i + SHINGLE]) for i in range(last) if words[i : i + SHINGLE])


def page_counts(extracted: str, expected: str) -> Counts:
    got, want = shingle_counts(extracted), shingle_counts(expected)
    tp = sum((got & want).values())
    fp = sum((got - want).values())
    fn = sum((want - got).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def summary(pages: list[Counts]) -> tuple[float, float, float]:
    """Precision and recall averaged over the pages where each is defined; F1 from the averages."""
    precision = statistics.fmean(
        1.0 if fp == fn == 0 else tp / (tp + fp) for tp, fp, fn in pages if tp + fp > 0
    )
    recall = statistics.fmean(
        1.0 if fp == fn == 0 else tp / (tp + fn) for tp, fp, fn in pages if tp + fn > 0
    )
    return precision, recall, 2 * precision * recall / (precision + recall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the extraction-benchmark folder")
    args = parser.parse_args()
    truth = json.loads((args.data / "ground-truth.json").read_text())
    site = FixtureServer([], args.data / "html")
    base = site.start()
    step = FetchStep(PageFetcher(allow_hosts=["127.0.0.1"], host_spacing_s=0))
    ours, anchor = [], []
    for page_id, expected in sorted(truth.items()):
        body = expected["articleBody"]
        article = step(Article.create(f"{base}/pages/{page_id}"))
        assert article is not None  # the step drops only ids it was told were cleaned
        ours.append(page_counts(article.text, body))
        raw = gzip.decompress((args.data / "html" / f"{page_id}.html.gz").read_bytes())
        text, _ = decode_html(raw, None)
        anchor.append(page_counts(trafilatura.extract(text) or "", body))
    site.stop()
    table = Table("path", "pages", "precision", "recall", "F1")
    for name, pairs in (
        ("ingest (fixture site -> fetch step)", ours),
        ("trafilatura.extract", anchor),
    ):
        p, r, f1 = summary(pairs)
        table.add_row(name, str(len(pairs)), f"{p:.3f}", f"{r:.3f}", f"{f1:.3f}")
    Console().print(table)


if __name__ == "__main__":
    main()
