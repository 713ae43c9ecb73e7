"""Command-line tools of the processing stages: `akhbar process` and `akhbar eval ner`."""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import click

from akhbar.article import Article
from processors import enrich, normalize
from processors.entities import EntityTagger
from processors.ner_eval import GoldFileError, read_conll, score

EXIT_BAD_INPUT = 2


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--published-at", type=click.DateTime(), help="Resolve relative dates against this.")
@click.option("--url", help="The article's address (default: the file's).")
def process(path: Path, published_at: datetime | None, url: str | None) -> None:
    """Normalize and enrich one article and print it as JSON.

    PATH is plain text (the article body) or a JSON object with at least `url`
    and `text`. Stories are grouped in a throwaway index, so nothing is stored.
    """
    article = _read_article(path, published_at, url)
    article = normalize.normalize(article).stamped(normalize.NAME, normalize.VERSION)
    with tempfile.TemporaryDirectory() as tmp:
        enricher = enrich.Enricher(Path(tmp) / "stories.sqlite")
        article = enricher.enrich(article).stamped(enrich.NAME, enrich.VERSION)
    click.echo(
        json.dumps(article.model_dump(mode="json", exclude_none=True), ensure_ascii=False, indent=2)
    )


def _read_article(path: Path, published_at: datetime | None, url: str | None) -> Article:
    raw = path.read_text(encoding="utf-8")
    fields: dict[str, object] = {}
    if path.suffix == ".json":
        try:
            fields = json.loads(raw)
        except json.JSONDecodeError as exc:
            click.echo(f"akhbar: {path} is not JSON: {exc}", err=True)
            sys.exit(EXIT_BAD_INPUT)
    else:
        fields = {"text": raw}
    if published_at is not None:
        fields["published_at"] = published_at
    address = str(url or fields.pop("url", None) or path.resolve().as_uri())
    return Article.create(address, **fields)


@click.group("eval")
def evaluate() -> None:
    """Score the shipped models on gold files."""


@evaluate.command("ner")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def evaluate_ner(path: Path) -> None:
    """Entity-level precision, recall and F1 (CoNLL style) of the shipped tagger on PATH.

    PATH has one `token TAG` a line (IOB2), sentences separated by blank lines.
    """
    try:
        gold = read_conll(path)
    except GoldFileError as exc:
        click.echo(f"akhbar: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    tagger = EntityTagger()
    predicted = [tagger.tag_tokens(tokens) for tokens, _tags in gold]
    click.echo(score(gold, predicted).report())
