"""Draw article pairs from SaudiNewsNet for labelling as same story or not.

Pairs are stratified by the Jaccard similarity of their content words (most
random pairs are plainly different stories and say nothing about the hard
cases), from different outlets, within one day. Writes a TSV with an empty
`same` column to fill in by reading the two articles (1 same event, 0 not).

    .venv/bin/python -m scripts.sample_story_pairs ../shared/data/saudinewsnet --days 2
"""

from __future__ import annotations

import random
from pathlib import Path

import click
from datasketch import MinHash, MinHashLSH

from processors.arabic import search_form
from processors.entities import tokenize, word_key
from scripts.saudinewsnet import read_articles

SEED = 7
BANDS = ((0.6, 1.01), (0.4, 0.6), (0.25, 0.4), (0.1, 0.25))
PER_BAND = 12


def content_words(text: str) -> set[str]:
    return {
        w
        for w in (word_key(t) for t, _s, _e in tokenize(search_form(text)))
        if len(w) >= 3 and w.isalpha()
    }


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--days", type=int, default=2)
@click.option(
    "--output", type=click.Path(path_type=Path), default=Path("benchmarks/story-pairs.tsv")
)
def main(folder: Path, days: int, output: Path) -> None:
    articles = [a for a in read_articles(folder, days) if len(a.text) > 300]
    words = [content_words(a.text) for a in articles]
    lsh = MinHashLSH(threshold=0.1, num_perm=64)
    pairs: dict[tuple[int, int], float] = {}
    for i, ws in enumerate(words):
        signature = MinHash(num_perm=64, seed=SEED)
        signature.update_batch([w.encode() for w in ws])
        for j in lsh.query(signature):
            if articles[j].source != articles[i].source:
                pairs[(j, i)] = len(ws & words[j]) / len(ws | words[j])
        lsh.insert(i, signature)
    rng = random.Random(SEED)
    rows = []
    for low, high in BANDS:
        band = sorted(p for p, s in pairs.items() if low <= s < high)
        for j, i in rng.sample(band, min(PER_BAND, len(band))):
            rows.append((articles[j], articles[i], pairs[(j, i)]))
    with output.open("w", encoding="utf-8") as out:
        out.write("same\tjaccard\turl_a\turl_b\ttitle_a\ttitle_b\n")
        for a, b, s in rows:
            out.write(f"\t{s:.2f}\t{a.url}\t{b.url}\t{a.title}\t{b.title}\n")
    click.echo(f"{len(rows)} pairs of {len(pairs)} candidates -> {output}")


if __name__ == "__main__":
    main()
