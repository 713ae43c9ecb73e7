"""Normalized articles per second on one core, beside a plain camel-tools anchor.

Reads SaudiNewsNet articles, builds the Articles first (not timed), then times
`processors.normalize.normalize` over all of them in this one process. The
anchor, timed in the same run on the same texts, is the least any Arabic
normalization does: camel-tools' normalize_unicode and dediac_ar over the title
and text. Target: >= 2,000 normalized articles/s per core.

The first round of normalize decides every word it has not seen (the split-word
repair remembers its decisions), so it is printed too: a stage meeting new text.
Start-up is a fresh interpreter importing the step and normalizing one article,
beside a fresh interpreter doing the same with the anchor's camel-tools functions.

    .venv/bin/python benchmarks/normalize.py ../shared/data/saudinewsnet/2015-08-06.zip
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
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
# Times are CPU seconds of this process (and of its children for start-up): on a
# shared, loaded machine wall time mostly measures the other processes.


def load_articles(path: Path, limit: int) -> list[Article]:
    with zipfile.ZipFile(path) as archive:
        raw = json.loads(archive.read(archive.namelist()[0]))
    return [
        Article.create(a["url"], title=a.get("title"), text=a.get("content") or "")
        for a in raw[:limit]
    ]


def round_rates(work: Callable[[], object], count: int) -> list[float]:
    """Articles per second of each of ROUNDS rounds of `work`, in order."""
    rates = []
    for _ in range(ROUNDS):
        start = time.process_time()
        work()
        rates.append(count / (time.process_time() - start))
    return rates


SAMPLE_TEXT = "ودعا لافروف الولاياتالمتحدة إلى إقناع المسلحين بالخروج من حلب"
STARTUP_CODE = f"""
from akhbar.article import Article
from processors.normalize import normalize
normalize(Article.create("https://news.example/a", text={SAMPLE_TEXT!r}))
"""
ANCHOR_STARTUP_CODE = f"""
from camel_tools.utils.dediac import dediac_ar
from camel_tools.utils.normalize import normalize_unicode
dediac_ar(normalize_unicode({SAMPLE_TEXT!r}))
"""


def startup_seconds(code: str) -> float:
    """CPU seconds of a fresh interpreter running `code`, best of ROUNDS."""
    best = float("inf")
    for _ in range(ROUNDS):
        before = _children_cpu_seconds()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, _children_cpu_seconds() - before)
    return best


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_rounds(zip_path: Path, limit: int) -> tuple[list[float], float, int]:
    """(normalize articles/s of each round, best anchor articles/s, articles) on one core."""
    articles = load_articles(zip_path, limit)
    normalize(articles[0])  # loads the lexicon and the character table, outside the timing

    def anchor() -> None:
        for a in articles:
            dediac_ar(normalize_unicode(f"{a.title or ''}\n{a.text}"))

    def full() -> None:
        for a in articles:
            normalize(a)

    anchor_rate = max(round_rates(anchor, len(articles)))
    return round_rates(full, len(articles)), anchor_rate, len(articles)


def measure(zip_path: Path, limit: int) -> tuple[float, float, int]:
    """(normalize articles/s, anchor articles/s, articles) on one core, best of ROUNDS."""
    rates, anchor_rate, count = measure_rounds(zip_path, limit)
    return max(rates), anchor_rate, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("zip", type=Path, help="a SaudiNewsNet daily zip")
    parser.add_argument("--limit", type=int, default=2_000)
    args = parser.parse_args()
    articles = load_articles(args.zip, args.limit)
    chars = sum(len(a.text) for a in articles)
    print(f"{len(articles)} articles, {chars / len(articles):.0f} characters each on average")
    rates, anchor_rate, _count = measure_rounds(args.zip, args.limit)
    rate = max(rates)
    print(f"anchor (camel-tools normalize_unicode + dediac_ar): {anchor_rate:8.0f} articles/s")
    print(f"normalize (display, search, repairs, sentences):     {rate:8.0f} articles/s")
    print(f"normalize, first round (every word new):            {rates[0]:8.0f} articles/s")
    first = rates[0] / anchor_rate
    print(
        f"ratio normalize/anchor: {rate / anchor_rate:.2f} (first round {first:.2f});"
        f" target {TARGET_PER_SECOND}/s per core"
    )
    anchor_startup = startup_seconds(ANCHOR_STARTUP_CODE)
    startup = startup_seconds(STARTUP_CODE)
    print(f"start-up, anchor (import camel-tools, one text):    {anchor_startup:8.2f} s CPU")
    print(f"start-up, normalize (import, lexicon, one article): {startup:8.2f} s CPU")
    print(f"ratio start-up normalize/anchor: {startup / anchor_startup:.2f}")


if __name__ == "__main__":
    main()
