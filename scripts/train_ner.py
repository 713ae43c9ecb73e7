"""Train the shipped named-entity model, and cross-validate it.

    .venv/bin/python scripts/train_ner.py ../shared/data/anercorp/train.txt --folds 5
    .venv/bin/python scripts/train_ner.py ../shared/data/anercorp/train.txt

With --folds N the file's sentences are cut into N contiguous blocks (neighbouring
sentences come from the same story, so a random split would leak names between
train and test); each block is tagged by a model trained on the others and the
pooled entity-level scores are printed. Without it, one model is trained on the
whole file and written to processors/resources/ner.crfsuite. CRF training is
deterministic (L-BFGS, fixed settings), so the same inputs give the same model.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import click
import pycrfsuite

from processors.entities import EntityTagger, document_features
from processors.ner_eval import TYPES, Score, Sentence, documents, read_conll, score

OUTPUT = Path(__file__).resolve().parent.parent / "processors" / "resources" / "ner.crfsuite"
# Elastic-net weights and the iteration cap, chosen by cross-validation on ANERcorp.
L1 = 0.05
L2 = 0.02
MAX_ITERATIONS = 200
# Features seen fewer times than this are dropped: keeps the model file small.
MIN_FEATURE_FREQUENCY = 1
# Folds trained at once; one per core is the default.
WORKERS = 2


def features(sentences: list[Sentence]) -> list[list[list[str]]]:
    """Features of every sentence, each block of DOCUMENT_SENTENCES as one document."""
    return [
        rows
        for block in documents(sentences)
        for rows in document_features([tokens for tokens, _tags in block])
    ]


def train(sentences: list[Sentence], model_path: Path, c1: float = L1, c2: float = L2) -> None:
    trainer = pycrfsuite.Trainer(verbose=False)
    for rows, (_tokens, tags) in zip(features(sentences), sentences, strict=True):
        trainer.append(rows, tags)
    trainer.set_params(
        {
            "c1": c1,
            "c2": c2,
            "max_iterations": MAX_ITERATIONS,
            "feature.minfreq": MIN_FEATURE_FREQUENCY,
            "feature.possible_transitions": True,
        }
    )
    trainer.train(str(model_path))


def run_fold(
    sentences: list[Sentence], folds: int, fold: int, c1: float, c2: float
) -> tuple[Score, Score]:
    """Scores of one held-out block: the model alone, and the tagger as shipped."""
    size = -(-len(sentences) // folds)
    held_out = sentences[fold * size : (fold + 1) * size]
    training = sentences[: fold * size] + sentences[(fold + 1) * size :]
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "fold.crfsuite"
        train(training, model_path, c1, c2)
        tagger = EntityTagger(str(model_path))
        model_only, shipped = [], []
        for block in documents(held_out):
            tokens = [tokens for tokens, _tags in block]
            model_only += tagger.tag_document(tokens, place_rule=False)
            shipped += tagger.tag_document(tokens)
    return score(held_out, model_only), score(held_out, shipped)


@click.command()
@click.argument("gold", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--folds", type=int, default=0, help="Cross-validate over this many folds.")
@click.option("--output", type=click.Path(path_type=Path), default=OUTPUT)
@click.option("--c1", type=float, default=L1, show_default=True, help="L1 weight.")
@click.option("--c2", type=float, default=L2, show_default=True, help="L2 weight.")
@click.option("--workers", type=int, default=WORKERS, show_default=True)
def main(gold: Path, folds: int, output: Path, c1: float, c2: float, workers: int) -> None:
    sentences = read_conll(gold)
    if not folds:
        train(sentences, output, c1, c2)
        click.echo(f"trained on {len(sentences)} sentences -> {output}")
        return
    model_total, total = Score(), Score()
    with ProcessPoolExecutor(workers) as pool:
        jobs = [pool.submit(run_fold, sentences, folds, fold, c1, c2) for fold in range(folds)]
        click.echo("F1 per fold  " + " ".join(f"{kind:>6}" for kind in ("micro", *TYPES)))
        for fold, job in enumerate(jobs):
            model_only, shipped = job.result()
            f1s = " ".join(f"{shipped.prf(kind)[2]:6.3f}" for kind in (None, *TYPES))
            click.echo(f"fold {fold + 1:<7} {f1s}")
            model_total.merge(model_only)
            total.merge(shipped)
    click.echo(f"{folds}-fold cross-validation, model alone (no place rule), pooled:")
    click.echo(model_total.report())
    click.echo(f"{folds}-fold cross-validation, the tagger as shipped, pooled:\n{total.report()}")


if __name__ == "__main__":
    main()
