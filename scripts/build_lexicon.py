"""Rebuild the word-frequency lexicon used to repair words run together.

Counts the Arabic words and word pairs of SaudiNewsNet articles (titles and
bodies) from every daily zip except the test days, which
scripts/evaluate_wordsplit.py measures on. With --dev, the development days are
left out too: that lexicon is the one the split threshold is tuned with.

    .venv/bin/python scripts/build_lexicon.py ../shared/data/saudinewsnet
    .venv/bin/python scripts/build_lexicon.py ../shared/data/saudinewsnet --dev \
        --out dev.tsv.gz --char-out dev-chars.tsv.gz
"""

from __future__ import annotations

import argparse
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

from processors.wordsplit import (
    CHAR_MODEL_PATH,
    LEXICON_PATH,
    build_lexicon,
    count_words,
    write_char_model,
    write_lexicon,
)

# Days kept out of the lexicon so the split-word evaluation runs on unseen text.
HELD_OUT_DAYS = ("2015-08-06", "2015-08-07")
# Days the split threshold is tuned on, with a lexicon built without them; the
# shipped lexicon counts them too (the held-out days stay untouched by both).
DEV_DAYS = ("2015-08-03", "2015-08-04")


def corpus_articles(folder: Path, days: set[str] | None = None) -> Iterator[dict[str, str]]:
    """Every article of the SaudiNewsNet zips in `folder` (only `days`, when given)."""
    for path in sorted(folder.glob("*.zip")):
        if days is not None and path.stem not in days:
            continue
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                yield from json.loads(archive.read(name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="folder of SaudiNewsNet daily zips")
    parser.add_argument("--out", type=Path, default=LEXICON_PATH)
    parser.add_argument("--char-out", type=Path, default=CHAR_MODEL_PATH, help="letter model")
    parser.add_argument("--dev", action="store_true", help="leave the development days out too")
    args = parser.parse_args()
    days = {p.stem for p in args.corpus.glob("*.zip")} - set(HELD_OUT_DAYS)
    if args.dev:
        days -= set(DEV_DAYS)
    texts = (
        f"{a.get('title') or ''}\n{a.get('content') or ''}"
        for a in corpus_articles(args.corpus, days)
    )
    counts = count_words(texts)
    lexicon = build_lexicon(counts)
    kept = write_lexicon(counts, args.out, lexicon.known_cuts or {})
    print(
        f"{len(counts)} distinct words, {kept} kept, {len(lexicon.known_cuts or {})} split,"
        f" {args.out.stat().st_size} bytes -> {args.out}"
    )
    grams = write_char_model(lexicon.char_log_probs, args.char_out)
    print(f"{grams} letter n-grams, {args.char_out.stat().st_size} bytes -> {args.char_out}")


if __name__ == "__main__":
    main()
