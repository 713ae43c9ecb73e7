"""Measure split-word repair on SaudiNewsNet days the lexicon was not built from.

Two measurements over the held-out test days (see build_lexicon.HELD_OUT_DAYS),
or with --dev over the development days and a lexicon built without them
(build_lexicon.py --dev), which is where the split threshold is tuned:

* joined pairs: real adjacent word pairs (both of at least MIN_PART_LENGTH
  letters) are written without their space; precision is the share of the
  splits made that restore the pair exactly, recall the share of pairs restored.
* untouched text: the held-out articles as published, per 10,000 Arabic words.
  Many splits made there restore real lost spaces of the source: each split is
  looked up in benchmarks/wordsplit-judgements.tsv (judged by reading), and
  the ones judged false or not judged at all are the false splits. The count
  of all splits, as if every one were false, is printed too.

    .venv/bin/python scripts/evaluate_wordsplit.py ../shared/data/saudinewsnet
    .venv/bin/python scripts/evaluate_wordsplit.py ../shared/data/saudinewsnet --dev \
        --lexicon dev.tsv.gz --char-model dev-chars.tsv.gz
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from build_lexicon import DEV_DAYS, HELD_OUT_DAYS, corpus_articles

from processors.wordsplit import (
    ARABIC_WORD_RE,
    MIN_PART_LENGTH,
    Lexicon,
    load_lexicon,
    read_lexicon,
)

# Pairs sampled per article: spreads the sample over many articles and outlets.
PAIRS_PER_ARTICLE = 2
SEED = 20151207
EXAMPLES_SHOWN = 15
JUDGEMENTS = Path(__file__).parent.parent / "benchmarks" / "wordsplit-judgements.tsv"


def plain_words(text: str) -> list[str]:
    """Whitespace tokens made only of Arabic letters (no digits, punctuation or marks)."""
    return [t for t in text.split() if ARABIC_WORD_RE.fullmatch(t)]


def sample_pairs(texts: list[str], rng: random.Random) -> list[tuple[str, str]]:
    pairs = []
    for text in texts:
        tokens = text.split()
        candidates = [
            (a, b)
            for a, b in zip(tokens, tokens[1:], strict=False)
            if ARABIC_WORD_RE.fullmatch(a)
            and ARABIC_WORD_RE.fullmatch(b)
            and len(a) >= MIN_PART_LENGTH
            and len(b) >= MIN_PART_LENGTH
        ]
        pairs.extend(rng.sample(candidates, min(PAIRS_PER_ARTICLE, len(candidates))))
    return pairs


def evaluate_joined(lexicon: Lexicon, pairs: list[tuple[str, str]]) -> None:
    correct = wrong = 0
    wrong_examples = []
    for a, b in pairs:
        parts = lexicon.split(a + b)
        if parts == (a, b):
            correct += 1
        elif parts is not None:
            wrong += 1
            wrong_examples.append(f"{a}+{b} -> {'+'.join(parts)}")
    made = correct + wrong
    print(f"joined pairs: {len(pairs)}, splits made: {made}, correct: {correct}")
    print(f"precision: {correct / made:.4f}" if made else "precision: n/a (no splits)")
    print(f"recall:    {correct / len(pairs):.4f}")
    for example in wrong_examples[:EXAMPLES_SHOWN]:
        print(f"  wrong split: {example}")


def read_judgements(path: Path) -> dict[tuple[str, str], str]:
    """(run, split) -> `lost-space` or `false`, from a judgements file (# comments)."""
    judged = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            run, split, verdict = line.split("\t")
            judged[(run, split)] = verdict
    return judged


def evaluate_untouched(
    lexicon: Lexicon, texts: list[str], judged: dict[tuple[str, str], str]
) -> None:
    words = sum(len(ARABIC_WORD_RE.findall(text)) for text in texts)
    splits = []
    spaces = false = lost = 0
    for text in texts:
        for word in ARABIC_WORD_RE.findall(text):
            parts = lexicon.split(word)
            if parts is None:
                continue
            spaces += len(parts) - 1
            verdict = judged.get((word, " ".join(parts)))
            lost += verdict == "lost-space"
            false += verdict != "lost-space"
            splits.append(f"{word} -> {' '.join(parts)} ({verdict or 'not judged'})")
    print(f"untouched text: {words} Arabic words, {spaces} splits made")
    print(f"splits per 10,000 words (all counted false): {10_000 * spaces / words:.3f}")
    print(f"judged real lost spaces: {lost}; false or not judged: {false}")
    print(
        f"false splits per 10,000 words (judged false or not judged): {10_000 * false / words:.3f}"
    )
    for example in splits[:EXAMPLES_SHOWN]:
        print(f"  split: {example}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="folder of SaudiNewsNet daily zips")
    parser.add_argument("--dev", action="store_true", help="the development days, not the test")
    parser.add_argument("--lexicon", type=Path, help="a lexicon file (default: the shipped one)")
    parser.add_argument("--char-model", type=Path, help="its letter model (with --lexicon)")
    parser.add_argument(
        "--judgements", type=Path, default=JUDGEMENTS, help="splits of untouched text judged"
    )
    args = parser.parse_args()
    days = DEV_DAYS if args.dev else HELD_OUT_DAYS
    texts = [a.get("content") or "" for a in corpus_articles(args.corpus, set(days))]
    kind = "development" if args.dev else "held-out test"
    print(f"{kind} days: {', '.join(days)}; {len(texts)} articles")
    lexicon = read_lexicon(args.lexicon, args.char_model) if args.lexicon else load_lexicon()
    evaluate_joined(lexicon, sample_pairs(texts, random.Random(SEED)))
    judged = read_judgements(args.judgements) if args.judgements.exists() else {}
    evaluate_untouched(lexicon, texts, judged)


if __name__ == "__main__":
    main()
