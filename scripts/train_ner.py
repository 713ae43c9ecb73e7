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

from processors.entities import sentence_features
from processors.ner_eval import Score, Sentence, read_conll, score

OUTPUT = Path(__file__).resolve().parent.parent / "processors" / "resources" / "ner.crfsuite"
# Elastic-net weights and the iteration cap, chosen by cross-validation on ANERcorp.
L1 = 0.05
L2 = 0.02
MAX_ITERATIONS = 200
# Features seen fewer times than this are dropped: keeps the model file small.
MIN_FEATURE_FREQUENCY = 1
WORKERS = 2


def train(sentences: list[Sentence], model_path: Path) -> None:
    trainer = pycrfsuite.Trainer(verbose=False)
    for tokens, tags in sentences:
        trainer.append(sentence_features(tokens), tags)
    trainer.set_params(
        {
            "c1": L1,
            "c2": L2,
            "max_iterations": MAX_ITERATIONS,
            "feature.minfreq": MIN_FEATURE_FREQUENCY,
            "feature.possible_transitions": True,
        }
    )
    trainer.train(str(model_path))


def run_fold(sentences: list[Sentence], folds: int, fold: int) -> Score:
    size = -(-len(sentences) // folds)
    held_out = sentences[fold * size : (fold + 1) * size]
    training = sentences[: fold * size] + sentences[(fold + 1) * size :]
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "fold.crfsuite"
        train(training, model_path)
        tagger = pycrfsuite.Tagger()
        tagger.open(str(model_path))
        predicted = [tagger.tag(sentence_features(tokens)) for tokens, _tags in held_out]
    return score(held_out, predicted)


@click.command()
@click.argument("gold", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--folds", type=int, default=0, help="Cross-validate over this many folds.")
@click.option("--output", type=click.Path(path_type=Path), default=OUTPUT)
def main(gold: Path, folds: int, output: Path) -> None:
    sentences = read_conll(gold)
    if not folds:
        train(sentences, output)
        click.echo(f"trained on {len(sentences)} sentences -> {output}")
        return
    total = Score()
    with ProcessPoolExecutor(WORKERS) as pool:
        jobs = [pool.submit(run_fold, sentences, folds, fold) for fold in range(folds)]
        for fold, job in enumerate(jobs):
            result = job.result()
            click.echo(f"fold {fold + 1}: micro F1 {result.prf()[2]:.3f}")
            total.merge(result)
    click.echo(f"{folds}-fold cross-validation, pooled:\n{total.report()}")


if __name__ == "__main__":
    main()
