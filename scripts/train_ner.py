"""Train the shipped named-entity model, and cross-validate it.

    .venv/bin/python scripts/train_ner.py ../shared/data/anercorp/train.txt --folds 5 \
        --news ../shared/data/saudinewsnet
    .venv/bin/python scripts/train_ner.py ../shared/data/anercorp/train.txt \
        --news ../shared/data/saudinewsnet

With --folds N the file's sentences are cut into N contiguous blocks (neighbouring
sentences come from the same story, so a random split would leak names between
train and test); each block is tagged by a model trained on the others and the
pooled entity-level scores are printed. Without it, one model is trained on the
whole file and written to processors/resources/ner.crfsuite. CRF training is
deterministic (L-BFGS, fixed settings, features in a fixed order whatever the
process's string hashing), so the same inputs give the same model file.

With --news, the model also learns from an auto-lexicon: the tags a model trained
on the same labelled part gives words in the unlabelled news (build_auto_lexicon.py);
the shipped one is written beside the model. Without it, no auto-lexicon is used
(and the shipped one is removed). `--only-fold 3` screens an idea on one fold.
`--c1` and `--c2` set the trained model's weights; the models that tag the news
keep LEXICON_L1, LEXICON_L2 and LEXICON_UNSEEN_PAIRS.

Tagging the news is most of the cost of a fold. `--lexicon-cache DIR` keeps each
model's tag counts there and reuses them, so that screens of ideas that leave the
models without an auto-lexicon alone (the final model's tags, the list's thresholds)
cost one training each. `--scheme bioes` has the model learn BIOES tags;
`--weak-entries` also lists the words the news model tagged too seldom, marked weak.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import click
import pycrfsuite

# Run as a file, the script's own folder is on the path but not the project's.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from processors.entities import (  # noqa: E402
    NO_AUTO_LEXICON,
    EntityTagger,
    document_features,
    to_bioes,
    use_auto_lexicon,
)
from processors.ner_eval import TYPES, Score, Sentence, documents, read_conll, score  # noqa: E402
from scripts.build_auto_lexicon import TagCounts, tag_news, write_lexicon  # noqa: E402

RESOURCES = Path(__file__).resolve().parent.parent / "processors" / "resources"
OUTPUT = RESOURCES / "ner.crfsuite"
AUTO_LEXICON_OUTPUT = RESOURCES / "auto-lexicon.tsv.gz"
# The training sentences are cut into this many parts, each given an auto-lexicon
# made by a model that never saw its labels: trained with a list made by a model
# that knew their labels, the CRF would trust the list far more than it deserves
# on the unseen names it is for.
AUTO_LEXICON_PARTS = 4
# Elastic-net weights and the iteration cap of the trained model, chosen by
# cross-validation on ANERcorp: with the document features and auto-lexicon, a
# heavier L2 weight spreads a name's evidence over more of its features, and the
# model generalises better to names it never saw (5-fold F1 0.768 at 0.02, 0.775 at 0.3
# before Wikidata's people; with them 0.784 at 0.3, 0.786 from 0.5 to 1.0).
L1 = 0.05
L2 = 0.7
# The models that tag the news for the auto-lexicon keep the weights the list's
# thresholds were chosen with; their counts, cached per fold, stay valid while the
# trained model's weights change.
LEXICON_L1 = 0.05
LEXICON_L2 = 0.02
MAX_ITERATIONS = 200
# The trained model also weighs each feature against the tags it never came with in
# training (crfsuite's possible_states): "this word is never a person's first word"
# is evidence too. On ANERcorp's folds, 5-fold F1 0.789 -> 0.791 (model alone 0.776 ->
# 0.778); the L1 weight keeps the model file from growing more than a fifth. The models
# that tag the news keep the features their list's thresholds were chosen with.
UNSEEN_PAIRS = True
LEXICON_UNSEEN_PAIRS = False
# Features are kept from their first occurrence (the unseen pairs have none).
MIN_FEATURE_FREQUENCY = 0
# The tags the model learns: IOB2 as in the gold file, or BIOES, where a name's
# last word (E-) and a one-word name (S-) have tags of their own; the tagger
# reads either back as IOB2.
LABEL_SCHEMES: dict[str, Callable[[list[str]], list[str]]] = {"iob2": list, "bioes": to_bioes}
SCHEME = "iob2"
# The models that tag the news for the auto-lexicon keep IOB2 whatever SCHEME is:
# their lists, cached per fold, stay valid while the final model's tags change.
LEXICON_SCHEME = "iob2"
# Folds trained at once; one per core is the default.
WORKERS = 2


def features(sentences: list[Sentence]) -> list[list[list[str]]]:
    """Features of every sentence, each block of DOCUMENT_SENTENCES as one document."""
    return [
        rows
        for block in documents(sentences)
        for rows in document_features([tokens for tokens, _tags in block])
    ]


def train(
    sentences: list[Sentence],
    model_path: Path,
    c1: float = L1,
    c2: float = L2,
    lexicons: list[Path | str] | None = None,
    scheme: str = SCHEME,
    unseen_pairs: bool = UNSEEN_PAIRS,
) -> None:
    """Train a model; with `lexicons`, the sentences are cut into as many contiguous
    parts and each part's features are made with its own auto-lexicon. The model
    learns the gold tags written in `scheme` (see LABEL_SCHEMES), and with
    `unseen_pairs` weighs features against the tags they never came with."""
    trainer = pycrfsuite.Trainer(verbose=False)
    written = LABEL_SCHEMES[scheme]
    for part, lexicon in zip(*_parts(sentences, lexicons), strict=True):
        if lexicon is not None:
            use_auto_lexicon(lexicon)
        for rows, (_tokens, tags) in zip(features(part), part, strict=True):
            trainer.append(rows, written(tags))
    trainer.set_params(
        {
            "c1": c1,
            "c2": c2,
            "max_iterations": MAX_ITERATIONS,
            "feature.minfreq": MIN_FEATURE_FREQUENCY,
            "feature.possible_transitions": True,
            "feature.possible_states": unseen_pairs,
        }
    )
    trainer.train(str(model_path))


def _parts(
    sentences: list[Sentence], lexicons: list[Path | str] | None
) -> tuple[list[list[Sentence]], list[Path | str | None]]:
    if not lexicons:
        return [sentences], [None]
    return [split_fold(sentences, len(lexicons), n)[1] for n in range(len(lexicons))], [*lexicons]


def train_with_auto_lexicon(
    sentences: list[Sentence],
    model_path: Path,
    lexicon_path: Path,
    news: Path,
    c1: float,
    c2: float,
    cache: Path | None = None,
    cache_name: str = "all",
    scheme: str = SCHEME,
    weak: bool = False,
) -> None:
    """Train a model whose features include an auto-lexicon made from `news`.

    A model without the feature tags the news for the list the trained model is
    used with (written to `lexicon_path`); for training, each of AUTO_LEXICON_PARTS
    parts gets the list of a model trained without that part.
    """
    cached = NewsTagCounts(cache, cache_name)
    counts = cached.get("plain", partial(_news_counts, sentences, news))
    write_lexicon(counts, lexicon_path, "plain.crfsuite", weak)
    with tempfile.TemporaryDirectory() as tmp:
        lexicons: list[Path | str] = []
        for part in range(AUTO_LEXICON_PARTS):
            rest, _part = split_fold(sentences, AUTO_LEXICON_PARTS, part)
            counts = cached.get(f"part{part}", partial(_news_counts, rest, news))
            part_lexicon = Path(tmp) / f"part{part}.tsv.gz"
            write_lexicon(counts, part_lexicon, "rest.crfsuite", weak)
            lexicons.append(part_lexicon)
        train(sentences, model_path, c1, c2, lexicons, scheme)
    use_auto_lexicon(lexicon_path)


def _news_counts(sentences: list[Sentence], news: Path) -> TagCounts:
    """How a model trained on `sentences` without an auto-lexicon tags the words of `news`."""
    with tempfile.TemporaryDirectory() as tmp:
        model = Path(tmp) / "plain.crfsuite"
        use_auto_lexicon(NO_AUTO_LEXICON)
        train(
            sentences,
            model,
            LEXICON_L1,
            LEXICON_L2,
            scheme=LEXICON_SCHEME,
            unseen_pairs=LEXICON_UNSEEN_PAIRS,
        )
        return tag_news(model, news)


class NewsTagCounts:
    """The news tagged for auto-lexicons, kept between runs in a folder by training set and part.

    Tagging the news is most of a fold's cost, and it depends only on the labelled
    part, the news and the features of the model without an auto-lexicon: while
    those stay the same, screens of other ideas (the list's thresholds among them)
    reuse the counts. Without a folder, the news is tagged afresh every time.
    """

    def __init__(self, folder: Path | None, name: str) -> None:
        self._folder = folder
        self._name = name

    def get(self, part: str, count: Callable[[], TagCounts]) -> TagCounts:
        """The counts named `part`: read when kept, else counted (and kept)."""
        if self._folder is None:
            return count()
        kept = self._folder / f"{self._name}-{part}.json.gz"
        if kept.is_file():
            return TagCounts.load(kept)
        counts = count()
        self._folder.mkdir(parents=True, exist_ok=True)
        counts.save(kept)
        return counts


def split_fold(
    sentences: list[Sentence], folds: int, fold: int
) -> tuple[list[Sentence], list[Sentence]]:
    """(training part, held-out block) of one fold (counted from 0) of contiguous blocks."""
    size = -(-len(sentences) // folds)
    held_out = sentences[fold * size : (fold + 1) * size]
    return sentences[: fold * size] + sentences[(fold + 1) * size :], held_out


def run_fold(
    sentences: list[Sentence],
    folds: int,
    fold: int,
    c1: float,
    c2: float,
    keep_models: Path | None = None,
    news: Path | None = None,
    cache: Path | None = None,
    scheme: str = SCHEME,
    weak: bool = False,
) -> tuple[Score, Score]:
    """Scores of one held-out block: the model alone, and the tagger as shipped.

    With `news`, the fold's model gets an auto-lexicon made from it with the fold's
    training part alone; without, no auto-lexicon at all.
    """
    training, held_out = split_fold(sentences, folds, fold)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / "fold.crfsuite"
        if news is None:
            use_auto_lexicon(NO_AUTO_LEXICON)
            train(training, model_path, c1, c2, scheme=scheme)
        else:
            lexicon_path = Path(tmp) / "auto-lexicon.tsv.gz"
            train_with_auto_lexicon(
                training,
                model_path,
                lexicon_path,
                news,
                c1,
                c2,
                cache,
                f"fold{fold + 1}-of-{folds}",
                scheme,
                weak,
            )
            if keep_models is not None:
                keep_models.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(
                    lexicon_path, keep_models / f"auto-fold{fold + 1}-of-{folds}.tsv.gz"
                )
        if keep_models is not None:
            keep_models.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(model_path, keep_models / f"fold{fold + 1}-of-{folds}.crfsuite")
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
@click.option("--c1", type=float, default=L1, show_default=True, help="L1 weight (trained model).")
@click.option("--c2", type=float, default=L2, show_default=True, help="L2 weight (trained model).")
@click.option("--workers", type=int, default=WORKERS, show_default=True)
@click.option(
    "--only-fold",
    type=int,
    multiple=True,
    help="Run only this fold (counted from 1); repeat for several. Screens an idea cheaply.",
)
@click.option(
    "--keep-models",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep each fold's model in this folder (to tag unlabelled text with it).",
)
@click.option(
    "--news",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="SaudiNewsNet folder: give the model an auto-lexicon made from it (without: none).",
)
@click.option(
    "--lexicon-cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep the auto-lexicons here and reuse them (valid while the news and the "
    "features of models without an auto-lexicon stay the same).",
)
@click.option(
    "--scheme",
    type=click.Choice(sorted(LABEL_SCHEMES)),
    default=SCHEME,
    show_default=True,
    help="The tags the model learns.",
)
@click.option(
    "--weak-entries",
    is_flag=True,
    help="Also list words the news model tagged too seldom for the auto-lexicon, marked weak.",
)
def main(
    gold: Path,
    folds: int,
    output: Path,
    c1: float,
    c2: float,
    workers: int,
    only_fold: tuple[int, ...],
    keep_models: Path | None,
    news: Path | None,
    lexicon_cache: Path | None,
    scheme: str,
    weak_entries: bool,
) -> None:
    sentences = read_conll(gold)
    if not folds:
        if news is None:
            use_auto_lexicon(NO_AUTO_LEXICON)
            train(sentences, output, c1, c2, scheme=scheme)
            AUTO_LEXICON_OUTPUT.unlink(missing_ok=True)
        else:
            train_with_auto_lexicon(
                sentences,
                output,
                AUTO_LEXICON_OUTPUT,
                news,
                c1,
                c2,
                lexicon_cache,
                "all",
                scheme,
                weak_entries,
            )
        click.echo(f"trained on {len(sentences)} sentences -> {output}")
        return
    model_total, total = Score(), Score()
    with ProcessPoolExecutor(workers) as pool:
        chosen = [fold - 1 for fold in only_fold] or list(range(folds))
        jobs = [
            pool.submit(
                run_fold,
                sentences,
                folds,
                fold,
                c1,
                c2,
                keep_models,
                news,
                lexicon_cache,
                scheme,
                weak_entries,
            )
            for fold in chosen
        ]
        click.echo("F1 per fold  " + " ".join(f"{kind:>6}" for kind in ("micro", *TYPES)))
        for fold, job in zip(chosen, jobs, strict=True):
            model_only, shipped = job.result()
            f1s = " ".join(f"{shipped.prf(kind)[2]:6.3f}" for kind in (None, *TYPES))
            click.echo(f"fold {fold + 1:<7} {f1s}")
            model_total.merge(model_only)
            total.merge(shipped)
    which = f"{folds}-fold cross-validation" + (
        f" (folds {', '.join(map(str, only_fold))} only)" if only_fold else ""
    )
    click.echo(f"{which}, model alone (no place rule), pooled:")
    click.echo(model_total.report())
    click.echo(f"{which}, the tagger as shipped, pooled:\n{total.report()}")


if __name__ == "__main__":
    main()
