"""Build the table of how often each news word is a proper noun, for the entity tagger.

    .venv/bin/python -m scripts.build_proper_nouns ../shared/data/saudinewsnet

The labelled corpus has 125k tokens; the Penn Arabic Treebank, which Stanford's
Arabic segmenter and part-of-speech tagger learned from, is several times larger
and marks proper nouns (NNP, DTNNP). Both tools run in Java, far too slowly for
the service, so they are run once here over the unlabelled news: the segmenter
splits clitics off (ب+ حلب), the tagger tags the pieces, and each word of the
news counts how often its stem was called a proper noun. The tagger reads the
share as a feature of the word (`propn=...`), looked up like the definiteness table.

The jars (CoreNLP and its Arabic models, GPL v3 or later) are fetched from Maven
Central with `mvn dependency:copy` into `--jars` unless already there; only the
counts this writes are shipped, no Stanford code or model.

Writes processors/resources/word-propernoun.tsv.gz: word key TAB percent, for the
words seen at least MIN_SEEN times.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click

from processors.entities import word_key
from scripts.build_auto_lexicon import article_sentences

RESOURCES = Path(__file__).resolve().parent.parent / "processors" / "resources"
OUTPUT = RESOURCES / "word-propernoun.tsv.gz"
JARS = Path.home() / ".cache" / "akhbar" / "corenlp"
CORENLP_VERSION = "4.5.10"
CORENLP = f"edu.stanford.nlp:stanford-corenlp:{CORENLP_VERSION}"
ARABIC_MODELS = f"{CORENLP}:jar:models-arabic"
SEGMENTER_MODEL = "edu/stanford/nlp/models/segmenter/arabic/arabic-segmenter-atb+bn+arztrain.ser.gz"
TAGGER_MODEL = "edu/stanford/nlp/models/pos-tagger/arabic.tagger"
# What the segmenter writes on each side of a clitic it splits off (ل+ التطرف, خطاب +ه).
MARKER = "+"
# The treebank's proper-noun tags, with and without the article.
PROPER_TAGS = frozenset(("NNP", "NNPS", "DTNNP", "DTNNPS"))
# A word seen fewer times than this gives no stable share.
MIN_SEEN = 3
# Java heap of each segmenter and tagger process.
JAVA_HEAP = "-Xmx3g"


def fetch_jars(folder: Path) -> list[Path]:
    """CoreNLP and its Arabic models in `folder`, fetched with Maven when missing."""
    wanted = [
        folder / f"stanford-corenlp-{CORENLP_VERSION}.jar",
        folder / f"stanford-corenlp-{CORENLP_VERSION}-models-arabic.jar",
    ]
    if not all(jar.exists() for jar in wanted):
        folder.mkdir(parents=True, exist_ok=True)
        for artifact in (CORENLP, ARABIC_MODELS):
            maven = ["mvn", "-q", "-B", "-Dstyle.color=never", "dependency:copy"]
            where = [f"-Dartifact={artifact}", f"-DoutputDirectory={folder}"]
            subprocess.run([*maven, *where], check=True)
    return wanted


def news_sentences(folder: Path) -> Iterator[list[str]]:
    """The tokens of every sentence of the news, cut as the auto-lexicon's tagging cuts them."""
    for sentences in article_sentences(folder, None):
        yield from sentences


def word_groups(pieces: Sequence[str]) -> list[list[int]]:
    """The segmenter's pieces grouped back into the words they came from.

    A piece ending in MARKER is a proclitic and joins the next piece; a piece
    starting with it is an enclitic and joins the one before (ل+ +ها is one word).
    """
    groups: list[list[int]] = []
    for index, piece in enumerate(pieces):
        continues = groups and (_is_enclitic(piece) or _is_proclitic(pieces[groups[-1][-1]]))
        if continues:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


def _is_proclitic(piece: str) -> bool:
    return len(piece) > 1 and piece.endswith(MARKER)


def _is_enclitic(piece: str) -> bool:
    return len(piece) > 1 and piece.startswith(MARKER)


def stem_tag(group: Sequence[int], pieces: Sequence[str], tags: Sequence[str]) -> str:
    """The tag of a word's stem: its one piece that is no clitic (the first clitic if none is)."""
    stems = [i for i in group if not (_is_proclitic(pieces[i]) or _is_enclitic(pieces[i]))]
    return tags[(stems or list(group))[0]]


class ProperNounCounts:
    """Per word key: occurrences, and how many of them the tagger called a proper noun."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.proper: Counter[str] = Counter()
        # Sentences whose pieces did not map back onto their tokens, left out.
        self.unaligned = 0

    def add_sentence(self, tokens: Sequence[str], segmented: str, tagged: str) -> None:
        pieces = segmented.split()
        tags = [item.rpartition("/")[2] for item in tagged.split()]
        groups = word_groups(pieces)
        if len(tags) != len(pieces) or len(groups) != len(tokens):
            self.unaligned += 1
            return
        for token, group in zip(tokens, groups, strict=True):
            key = word_key(token)
            self.seen[key] += 1
            if stem_tag(group, pieces, tags) in PROPER_TAGS:
                self.proper[key] += 1

    def shares(self) -> dict[str, int]:
        """Word key -> percentage of its occurrences tagged a proper noun (often seen words)."""
        return {
            key: round(100 * self.proper[key] / seen)
            for key, seen in self.seen.items()
            if seen >= MIN_SEEN
        }


def without_markers(segmented: str) -> str:
    """The segmenter's line as the tagger was trained on it: clitics split, unmarked."""
    return " ".join(piece.strip(MARKER) or piece for piece in segmented.split())


def run_stanford(jars: Sequence[Path], lines: Path, workdir: Path) -> tuple[Path, Path]:
    """Segment then tag one file of sentences; returns (segmented, tagged) files."""
    classpath = os.pathsep.join(map(str, jars))
    segmented, unmarked, tagged = (lines.with_suffix(s) for s in (".seg", ".plain", ".pos"))
    _run_java(
        classpath, "edu.stanford.nlp.international.arabic.process.ArabicSegmenter",
        ["-loadClassifier", SEGMENTER_MODEL, "-prefixMarker", MARKER,
         "-suffixMarker", MARKER, "-textFile", str(lines)],
        segmented, workdir,
    )  # fmt: skip
    with segmented.open() as source, unmarked.open("w") as out:
        out.writelines(without_markers(line) + "\n" for line in source)
    _run_java(
        classpath, "edu.stanford.nlp.tagger.maxent.MaxentTagger",
        ["-model", TAGGER_MODEL, "-textFile", str(unmarked), "-tokenize", "false",
         "-sentenceDelimiter", "newline", "-outputFormat", "slashTags"],
        tagged, workdir,
    )  # fmt: skip
    return segmented, tagged


def _run_java(
    classpath: str, main_class: str, arguments: list[str], output: Path, workdir: Path
) -> None:
    """Run one Stanford tool into `output`; a failure raises with the end of its log."""
    command = ["java", JAVA_HEAP, "-cp", classpath, main_class, *arguments]
    with output.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, text=True, cwd=workdir)
    if done.returncode:
        raise click.ClickException(
            f"{main_class} exited with {done.returncode}:\n{done.stderr[-2000:]}"
        )


def write_parts(sentences: Iterable[list[str]], folder: Path, parts: int) -> list[Path]:
    """Sentences dealt round-robin into `parts` files, one per line, tokens space-separated."""
    paths = [folder / f"part{n}.txt" for n in range(parts)]
    files = [path.open("w") for path in paths]
    try:
        for index, tokens in enumerate(sentences):
            files[index % parts].write(" ".join(tokens) + "\n")
    finally:
        for file in files:
            file.close()
    return paths


def count_part(counts: ProperNounCounts, lines: Path, segmented: Path, tagged: Path) -> None:
    with lines.open() as source, segmented.open() as seg, tagged.open() as pos:
        for line, seg_line, pos_line in zip(source, seg, pos, strict=True):
            counts.add_sentence(line.split(), seg_line, pos_line)


def write_table(shares: dict[str, int], output: Path) -> None:
    lines = "".join(f"{word}\t{share}\n" for word, share in sorted(shares.items()))
    # mtime=0 keeps the file byte-identical across rebuilds.
    with gzip.GzipFile(output, "wb", mtime=0) as out:
        out.write(lines.encode())


@click.command()
@click.argument("news", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--output", type=click.Path(path_type=Path), default=OUTPUT)
@click.option("--jars", type=click.Path(file_okay=False, path_type=Path), default=JARS)
@click.option("--workers", type=int, default=2, show_default=True, help="Java processes at once.")
def main(news: Path, output: Path, jars: Path, workers: int) -> None:
    classpath = fetch_jars(jars)
    counts = ProperNounCounts()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        parts = write_parts(news_sentences(news), workdir, workers)
        with ThreadPoolExecutor(workers) as pool:
            outputs = list(pool.map(lambda part: run_stanford(classpath, part, workdir), parts))
        for part, (segmented, tagged) in zip(parts, outputs, strict=True):
            count_part(counts, part, segmented, tagged)
    shares = counts.shares()
    write_table(shares, output)
    click.echo(
        f"{len(shares)} words -> {output} ({output.stat().st_size} bytes); "
        f"{counts.unaligned} sentences left out (pieces not mapped back)"
    )


if __name__ == "__main__":
    main()
