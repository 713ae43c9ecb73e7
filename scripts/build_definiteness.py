"""Build the table of how often each word takes the definite article, for the entity tagger.

    .venv/bin/python scripts/build_definiteness.py

Arabic has no capital letters, but names behave differently from common nouns:
a common noun is seen both bare and with ال (مدينة / المدينة), while a name is
seen almost always one way (موسكو, never الموسكو; الرياض, seldom رياض). For every
word seen often enough in the news word counts (processors/resources/
ar-news-wordfreq.tsv.gz, counted from SaudiNewsNet), the table gives the percentage
of its occurrences that carry the article, under both its bare and its ال form.

Writes processors/resources/word-definiteness.tsv.gz: word (search form, bare) TAB percent.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import click

RESOURCES = Path(__file__).resolve().parent.parent / "processors" / "resources"
WORD_COUNTS = RESOURCES / "ar-news-wordfreq.tsv.gz"
OUTPUT = RESOURCES / "word-definiteness.tsv.gz"
# Fewer occurrences than this (bare and ال together) give no stable share.
MIN_COUNT = 5
ARTICLE = "ال"


def word_counts(path: Path) -> dict[str, int]:
    """Single-word entries of the counts file (pairs of words are skipped)."""
    counts = {}
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            entry, _, count = line.rstrip("\n").partition("\t")
            if " " not in entry:
                counts[entry] = int(count)
    return counts


def definiteness(counts: dict[str, int]) -> dict[str, int]:
    """Bare word -> percentage of its occurrences with the article."""
    bare_forms = {w[len(ARTICLE) :] if w.startswith(ARTICLE) else w for w in counts}
    shares = {}
    for bare in bare_forms:
        if len(bare) < 2:
            continue
        with_article = counts.get(ARTICLE + bare, 0)
        total = counts.get(bare, 0) + with_article
        if total >= MIN_COUNT:
            shares[bare] = round(100 * with_article / total)
    return shares


@click.command()
@click.option("--counts", type=click.Path(exists=True, path_type=Path), default=WORD_COUNTS)
@click.option("--output", type=click.Path(path_type=Path), default=OUTPUT)
def main(counts: Path, output: Path) -> None:
    shares = definiteness(word_counts(counts))
    lines = "".join(f"{word}\t{share}\n" for word, share in sorted(shares.items()))
    # mtime=0 keeps the file byte-identical across rebuilds.
    with gzip.GzipFile(output, "wb", mtime=0) as out:
        out.write(lines.encode())
    click.echo(f"{len(shares)} words -> {output} ({output.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
