"""Compare two readers' judgements of the splits made in untouched text.

Prints how many splits both judged, their agreement, Cohen's kappa over the
labels, and every split they label differently, to be settled by re-reading.
The first judgement's `lost-space` is the second's `correct`.

    .venv/bin/python scripts/compare_judgements.py benchmarks/wordsplit-judgements.tsv \
        benchmarks/wordsplit-judgements-second.tsv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sklearn.metrics import cohen_kappa_score

# Labels of the first judgements file, in the label set of the later ones.
LABEL_ALIASES = {"lost-space": "correct"}


def read_labels(path: Path) -> dict[tuple[str, str], str]:
    """(run, split) -> label of a judgements file (`run<TAB>split<TAB>label...`, # comments)."""
    labels = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            run, split, label, *_ = line.split("\t")
            labels[(run, split)] = LABEL_ALIASES.get(label, label)
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    args = parser.parse_args()
    first, second = read_labels(args.first), read_labels(args.second)
    both = sorted(first.keys() & second.keys())
    print(
        f"judged by both: {len(both)}; only first: {len(first.keys() - second.keys())};"
        f" only second: {len(second.keys() - first.keys())}"
    )
    a = [first[key] for key in both]
    b = [second[key] for key in both]
    agreed = sum(x == y for x, y in zip(a, b, strict=True))
    print(f"agreement: {agreed}/{len(both)} = {agreed / len(both):.3f}")
    print(f"Cohen's kappa (all labels): {cohen_kappa_score(a, b):.3f}")
    # The figure the evaluation uses only asks correct or not.
    binary = [[label == "correct" for label in labels] for labels in (a, b)]
    print(f"Cohen's kappa (correct / not correct): {cohen_kappa_score(*binary):.3f}")
    for key, x, y in zip(both, a, b, strict=True):
        if x != y:
            print(f"  {key[0]} -> {key[1]}: first {x}, second {y}")


if __name__ == "__main__":
    main()
