"""Measure split-word repair on SaudiNewsNet days the lexicon was not built from.

Two measurements over the held-out test days (see build_lexicon.HELD_OUT_DAYS),
or with --dev over the development days and a lexicon built without them
(build_lexicon.py --dev), which is where the model is tuned:

* joined pairs: real adjacent word pairs (both of at least MIN_PART_LENGTH
  letters) are written without their space; precision is the share of the
  splits made that restore the pair exactly, recall the share of pairs restored.
* untouched text: the articles as published, per 10,000 Arabic words. Two
  figures: the strict one counts every split as false; the judged one counts
  the splits judged false, wrong-cut or unsure by reading in the judgements
  file (benchmarks/wordsplit-judgements-agreed.tsv), and every split missing
  from it, which are listed. Many splits there restore real lost spaces of the
  source, which the strict figure counts against the model.

--splits-out writes every distinct split of the untouched text with a context
window, the form the judgements are made from.

    .venv/bin/python scripts/evaluate_wordsplit.py ../shared/data/saudinewsnet
    .venv/bin/python scripts/evaluate_wordsplit.py ../shared/data/saudinewsnet --dev \
        --lexicon dev.tsv.gz --char-model dev-chars.tsv.gz --splits-out dev-splits.tsv
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path

from build_lexicon import DEV_DAYS, HELD_OUT_DAYS, corpus_articles

from processors.wordsplit import (
    ARABIC_WORD_RE,
    JOINED_CANDIDATE_RE,
    MIN_PART_LENGTH,
    Lexicon,
    load_lexicon,
    read_lexicon,
)

# Pairs sampled per article: spreads the sample over many articles and outlets.
PAIRS_PER_ARTICLE = 2
SEED = 20151207
EXAMPLES_SHOWN = 15
JUDGEMENTS = Path(__file__).parent.parent / "benchmarks" / "wordsplit-judgements-agreed.tsv"
# correct: the outlet lost a space and the cut restores it; false: the run is
# one word; wrong-cut: two words, cut in the wrong place; unsure: cannot tell.
LABELS = ("correct", "false", "wrong-cut", "unsure")
NOT_JUDGED = "not judged"
# Words shown each side of a split run: enough to read the phrase it sits in.
CONTEXT_WORDS = 6


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
    """(run, split) -> label, from a judgements file: `run<TAB>split<TAB>label[<TAB>...]`.

    Lines starting with # are comments; a label outside LABELS, or a split listed
    twice, raises ValueError naming the line, so a typo cannot quietly count a
    split as correct.
    """
    judged = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        run, split, label, *_ = line.split("\t")
        if label not in LABELS:
            raise ValueError(f"{path}:{number}: label {label!r} is none of {', '.join(LABELS)}")
        if (run, split) in judged:
            raise ValueError(f"{path}:{number}: {run} -> {split} is judged twice")
        judged[(run, split)] = label
    return judged


@dataclass
class Split:
    """One distinct split the model makes in untouched text, with where it was first seen."""

    run: str
    split: str
    context: str
    count: int = 0

    @property
    def spaces(self) -> int:
        return self.count * self.split.count(" ")


def context_of(text: str, start: int, end: int) -> str:
    """The run at text[start:end] marked [[...]] among CONTEXT_WORDS words each side."""
    before = text[:start].split()[-CONTEXT_WORDS:]
    after = text[end:].split()[:CONTEXT_WORDS]
    # A word glued to the run (punctuation, digits) stays glued in the window.
    glued_before = "" if start == 0 or text[start - 1].isspace() else before.pop()
    glued_after = "" if end == len(text) or text[end].isspace() else after.pop(0)
    run = f"{glued_before}[[{text[start:end]}]]{glued_after}"
    return " ".join([*before, run, *after])


def untouched_splits(lexicon: Lexicon, texts: list[str]) -> tuple[int, list[Split]]:
    """How many Arabic words `texts` hold, and every distinct split made in them
    (of the runs Lexicon.repair looks at)."""
    words = 0
    splits: dict[tuple[str, str], Split] = {}
    for text in texts:
        words += len(ARABIC_WORD_RE.findall(text))
        for match in JOINED_CANDIDATE_RE.finditer(text):
            parts = lexicon.split(match.group())
            if parts is None:
                continue
            key = (match.group(), " ".join(parts))
            if key not in splits:
                splits[key] = Split(*key, context_of(text, match.start(), match.end()))
            splits[key].count += 1
    return words, list(splits.values())


def write_splits(splits: list[Split], path: Path) -> None:
    """Every split, most frequent first, as `run<TAB>split<TAB>count<TAB>context`, to judge."""
    rows = sorted(splits, key=lambda s: (-s.count, s.run, s.split))
    lines = [f"{s.run}\t{s.split}\t{s.count}\t{s.context}\n" for s in rows]
    path.write_text("# run\tsplit\tcount\tcontext\n" + "".join(lines), encoding="utf-8")


def evaluate_untouched(
    words: int, splits: list[Split], judged: dict[tuple[str, str], str], source: Path
) -> None:
    """Print the strict figure (every split false) and the judged one (from `source`)."""
    spaces = sum(s.spaces for s in splits)
    print(f"untouched text: {words} Arabic words, {spaces} splits made, {len(splits)} distinct")
    print(f"strict: splits per 10,000 words (every split counted false): {per_10k(spaces, words)}")
    by_label = dict.fromkeys((*LABELS, NOT_JUDGED), 0)
    for split in splits:
        by_label[judged.get((split.run, split.split), NOT_JUDGED)] += split.spaces
    bad = sum(n for label, n in by_label.items() if label != "correct")
    print(f"judged ({source.name}): " + ", ".join(f"{k} {v}" for k, v in by_label.items()))
    print(
        "judged: false splits per 10,000 words (false, wrong-cut, unsure or not judged):"
        f" {per_10k(bad, words)}"
    )
    for split in sorted(splits, key=lambda s: -s.count):
        label = judged.get((split.run, split.split), NOT_JUDGED)
        if label != "correct":
            print(f"  {label}: {split.run} -> {split.split} x{split.count}  | {split.context}")


def per_10k(count: int, words: int) -> str:
    return f"{10_000 * count / words:.3f}" if words else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="folder of SaudiNewsNet daily zips")
    parser.add_argument("--dev", action="store_true", help="the development days, not the test")
    parser.add_argument("--lexicon", type=Path, help="a lexicon file (default: the shipped one)")
    parser.add_argument("--char-model", type=Path, help="its letter model (with --lexicon)")
    parser.add_argument(
        "--judgements", type=Path, default=JUDGEMENTS, help="splits of untouched text judged"
    )
    parser.add_argument("--splits-out", type=Path, help="write every split of untouched text")
    args = parser.parse_args()
    days = DEV_DAYS if args.dev else HELD_OUT_DAYS
    texts = [a.get("content") or "" for a in corpus_articles(args.corpus, set(days))]
    kind = "development" if args.dev else "held-out test"
    print(f"{kind} days: {', '.join(days)}; {len(texts)} articles")
    lexicon = read_lexicon(args.lexicon, args.char_model) if args.lexicon else load_lexicon()
    evaluate_joined(lexicon, sample_pairs(texts, random.Random(SEED)))
    words, splits = untouched_splits(lexicon, texts)
    if args.splits_out:
        write_splits(splits, args.splits_out)
        print(f"{len(splits)} distinct splits -> {args.splits_out}")
    evaluate_untouched(words, splits, read_judgements(args.judgements), args.judgements)


if __name__ == "__main__":
    main()
