"""`akhbar process`: run every processor on documents, without a bus, and print the Articles.

A debugging aid: what the pipeline would make of a text or a page. Runs in one
process with the processors loaded once, so a folder of a thousand documents
takes seconds. A document a processor rejects (InvalidArticle) is reported on
stderr with its reason; the others are still printed, and the exit code is 1.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from akhbar.article import Article
from akhbar.config import load_settings
from akhbar.errors import AkhbarError, InvalidArticle
from akhbar.pipeline import processing_stages
from akhbar.runner import Stage
from ingest.clean import extract

STDIN = "-"
EXIT_REJECTED = 1
EXIT_CONFIG = 2


@click.command("process")
@click.argument("inputs", nargs=-1, required=True)
@click.option(
    "--html", is_flag=True, help="The documents are HTML pages: extract their text first."
)
@click.pass_context
def process(ctx: click.Context, inputs: tuple[str, ...], html: bool) -> None:
    """Run every processor on FILE, a folder of files, or - (stdin) and print the Articles as JSON.

    One document prints indented JSON; several print one JSON line each.
    """
    try:
        stages = [s for s in processing_stages(load_settings(ctx.obj)) if s.output_topic]
    except (AkhbarError, ValueError) as exc:
        click.echo(f"akhbar: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    documents = list(_documents(inputs))
    rejected = 0
    for name, data in documents:
        article = _run_processors(_read(name, data, html), stages, name)
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
