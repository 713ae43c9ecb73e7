"""`akhbar process` and `akhbar eval ner`: the processors and their models, without a bus.

`akhbar process` runs every processor on documents and prints the Articles.

A debugging aid: what the pipeline would make of a text or a page. Runs in one
process with the processors loaded once, so a folder of a thousand documents
takes seconds. A document a processor rejects (InvalidArticle) is reported on
stderr with its reason; the others are still printed, and the exit code is 1.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click

from akhbar.article import Article
from akhbar.config import load_settings
from akhbar.errors import AkhbarError, InvalidArticle
from akhbar.pipeline import processing_stages
from akhbar.runner import Stage

# The processors `process` runs, in pipeline order (not the fetch stage: no network).
# Their modules (and trafilatura, for --html) are imported by the commands that use
# them, so that every other `akhbar` command starts without them.
PROCESSORS = ("normalize", "enrich")

STDIN = "-"
EXIT_REJECTED = 1
EXIT_CONFIG = 2


@click.command("process")
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--html", is_flag=True, help="The documents are HTML pages: extract their text first."
)
@click.option("--published-at", type=click.DateTime(), help="Resolve relative dates against this.")
@click.pass_context
def process(
    ctx: click.Context, inputs: tuple[str, ...], html: bool, published_at: datetime | None
) -> None:
    """Run every processor on FILE, a folder of files, or - (stdin) and print the Articles as JSON.

    One document prints indented JSON; several print one JSON line each. Stories are
    grouped in a throwaway index, so nothing is stored.
    """
    with tempfile.TemporaryDirectory() as scratch:
        try:
            settings = load_settings(ctx.obj)
            settings.enrich.stories_path = Path(scratch) / "stories.sqlite"
            stages = [s for name in PROCESSORS for s in processing_stages(settings, only=name)]
        except (AkhbarError, ValueError) as exc:
            click.echo(f"akhbar: {exc}", err=True)
            sys.exit(EXIT_CONFIG)
        _process_all(inputs, html, published_at, stages)


def _process_all(
    inputs: tuple[str, ...], html: bool, published_at: datetime | None, stages: list[Stage]
) -> None:
    documents = list(_documents(inputs))
    rejected = 0
    for name, data in documents:
        document = _read(name, data, html)
        if published_at is not None:
            document.published_at = published_at.replace(tzinfo=published_at.tzinfo or UTC)
        article = _run_processors(document, stages, name)
        if article is None:
            rejected += 1
            continue
        indent = 2 if len(documents) == 1 else None
        click.echo(article.model_dump_json(exclude_none=True, indent=indent))
    if rejected:
        sys.exit(EXIT_REJECTED)


def _documents(inputs: tuple[str, ...]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every document named: files, the files under folders, stdin."""
    for item in inputs:
        if item == STDIN:
            yield "<stdin>", sys.stdin.buffer.read()
            continue
        path = Path(item)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                yield str(child), child.read_bytes()
        elif path.is_file():
            yield str(path), path.read_bytes()
        else:
            raise click.BadParameter(f"no such file or folder: {item}", param_hint="INPUTS")


def _read(name: str, data: bytes, html: bool) -> Article:
    url = None if name == "<stdin>" else Path(name).resolve().as_uri()
    if html:
        from ingest.clean import extract

        return extract(data, url)
    # Undecodable bytes become U+FFFD rather than stopping the run; mojibake
    # (bytes decoded with the wrong charset before they got here) is the
    # normalize step's to repair.
    return Article.create(url or "about:stdin", text=data.decode("utf-8", errors="replace"))


def _run_processors(article: Article, stages: list[Stage], name: str) -> Article | None:
    for stage in stages:
        try:
            result = stage.step(article)
        except InvalidArticle as exc:
            click.echo(f"akhbar: {name}: rejected by {stage.name}: {exc}", err=True)
            return None
        if result is None:
            click.echo(f"akhbar: {name}: dropped by {stage.name}", err=True)
            return None
        article = result.stamped(stage.name, stage.version)
    return article


@click.group("eval")
def evaluate() -> None:
    """Score the shipped models on gold files."""


@evaluate.command("ner")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def evaluate_ner(path: Path) -> None:
    """Entity-level precision, recall and F1 (CoNLL style) of the shipped tagger on PATH.

    PATH has one `token TAG` a line (IOB2), sentences separated by blank lines; every
    DOCUMENT_SENTENCES consecutive sentences are tagged as one document.
    """
    from processors.entities import EntityTagger
    from processors.ner_eval import GoldFileError, documents, read_conll, score

    try:
        gold = read_conll(path)
    except GoldFileError as exc:
        click.echo(f"akhbar: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    tagger = EntityTagger()
    predicted = [
        tags
        for block in documents(gold)
        for tags in tagger.tag_document([tokens for tokens, _tags in block])
    ]
    click.echo(score(gold, predicted).report())
