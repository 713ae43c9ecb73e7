"""Build the word clusters the named-entity tagger uses as features.

Words that occur in the same contexts (left and right neighbours) in unlabelled
news land in the same cluster, so a name never seen in the labelled corpus still
shares a feature with the names that were. Vectors are positive PMI counts of
neighbours, reduced by truncated SVD, then grouped by k-means at two sizes
(coarse and fine). Fixed seeds: the same corpus gives the same file.

    .venv/bin/python scripts/build_word_clusters.py ../shared/data/saudinewsnet \
        --extra ../shared/data/anercorp/train.txt

Writes processors/resources/word-clusters.tsv.gz: word (search form), then its cluster at each size.
"""

from __future__ import annotations

import gzip
import json
import zipfile
from collections import Counter
from pathlib import Path

import click
import numpy as np
from scipy import sparse
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.preprocessing import normalize

from processors.entities import tokenize, word_key

OUTPUT = (
    Path(__file__).resolve().parent.parent / "processors" / "resources" / "word-clusters.tsv.gz"
)
# Words rarer than this have too few contexts for a stable vector.
MIN_COUNT = 4
# The vocabulary kept (most frequent first) and the context words counted.
MAX_WORDS = 60_000
CONTEXT_WORDS = 3_000
# Neighbours on each side that count as context, each offset its own feature.
WINDOW = 2
DIMENSIONS = 120
# Three granularities: coarse ones generalise, fine ones discriminate.
CLUSTER_SIZES = (50, 200, 800)
SEED = 20161207


def read_saudinewsnet(folder: Path) -> list[str]:
    texts = []
    for archive in sorted(folder.glob("*.zip")):
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                for item in json.loads(zipped.read(name)):
                    texts.append(f"{item.get('title') or ''}\n{item.get('content') or ''}")
    return texts


def read_conll_words(path: Path) -> list[str]:
    words = [
        line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.split()
    ]
    return [" ".join(words)]


def sequences(texts: list[str]) -> list[list[str]]:
    return [[word_key(token) for token, _start, _end in tokenize(text)] for text in texts]


def cooccurrence(
    seqs: list[list[str]], vocab: dict[str, int], contexts: dict[str, int]
) -> sparse.csr_matrix:
    rows, cols = [], []
    for seq in seqs:
        ids = np.array([vocab.get(w, -1) for w in seq])
        ctx = np.array([contexts.get(w, -1) for w in seq])
        for slot, offset in enumerate([o for o in range(-WINDOW, WINDOW + 1) if o]):
            if offset > 0:
                target, context = ids[:-offset], ctx[offset:]
            else:
                target, context = ids[-offset:], ctx[:offset]
            keep = (target >= 0) & (context >= 0)
            rows.append(target[keep])
            cols.append(context[keep] + slot * len(contexts))
    data_rows = np.concatenate(rows)
    data_cols = np.concatenate(cols)
    shape = (len(vocab), len(contexts) * 2 * WINDOW)
    counts = sparse.coo_matrix(
        (np.ones(len(data_rows), dtype=np.float32), (data_rows, data_cols)), shape
    )
    return counts.tocsr()


def positive_pmi(counts: sparse.csr_matrix) -> sparse.csr_matrix:
    total = counts.sum()
    row = np.asarray(counts.sum(axis=1)).ravel() + 1e-9
    col = np.asarray(counts.sum(axis=0)).ravel() + 1e-9
    coo = counts.tocoo()
    pmi = np.log(coo.data * total / (row[coo.row] * col[coo.col]))
    keep = pmi > 0
    return sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=counts.shape)


@click.command()
@click.argument("saudinewsnet", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--extra",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="CoNLL files whose words (not labels) are added to the text.",
)
@click.option("--output", type=click.Path(path_type=Path), default=OUTPUT)
def main(saudinewsnet: Path, extra: tuple[Path, ...], output: Path) -> None:
    texts = read_saudinewsnet(saudinewsnet)
    for path in extra:
        texts += read_conll_words(path)
    seqs = sequences(texts)
    freq = Counter(w for seq in seqs for w in seq)
    click.echo(f"{len(texts)} texts, {sum(freq.values())} tokens, {len(freq)} distinct words")
    ranked = [w for w, n in freq.most_common(MAX_WORDS) if n >= MIN_COUNT]
    vocab = {w: i for i, w in enumerate(ranked)}
    contexts = {w: i for i, w in enumerate(ranked[:CONTEXT_WORDS])}
    vectors = TruncatedSVD(DIMENSIONS, random_state=SEED).fit_transform(
        positive_pmi(cooccurrence(seqs, vocab, contexts))
    )
    vectors = normalize(vectors)
    levels = [
        MiniBatchKMeans(k, random_state=SEED, n_init=3, batch_size=4096).fit_predict(vectors)
        for k in CLUSTER_SIZES
    ]
    output.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(map(str, row)) + "\n" for row in zip(ranked, *levels, strict=True)]
    # mtime=0 keeps the file byte-identical across rebuilds.
    with gzip.GzipFile(output, "wb", mtime=0) as out:
        out.write("".join(lines).encode())
    click.echo(f"{len(ranked)} words clustered into {output}")


if __name__ == "__main__":
    main()
