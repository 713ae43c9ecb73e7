"""Writes the tagger's regression fixture: real SaudiNewsNet articles with the tags and entities
the tagger gives them, for `tests/processors/test_entities.py` to hold later versions to.

    .venv/bin/python scripts/tagger_fixture.py ../shared/data/saudinewsnet \
        tests/fixtures/saudinewsnet-tagged.jsonl

Every `--every`-th of the first `--articles` articles of the first day, normalized as the
enrich stage receives them. One JSON object a line: url, display_text, sentences (spans),
tags (the model's, one space-joined string per sentence), placed (the same after the
place rule) and entities. Run it again
only when the model or its features change on purpose (a retrained model tags differently).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from processors.entities import TOKEN_RE, EntityTagger  # noqa: E402
from processors.normalize import normalize  # noqa: E402
from scripts.saudinewsnet import read_articles  # noqa: E402


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--articles", "count", type=int, default=1000)
@click.option("--every", type=int, default=40)
def main(folder: Path, out: Path, count: int, every: int) -> None:
    tagger = EntityTagger()
    raw = [a for _, a in zip(range(count), read_articles(folder, days=1), strict=False)]
    with out.open("w", encoding="utf-8") as lines:
        for article in (normalize(a) for a in raw[::every]):
            text = article.display_text or ""
            spans = [(s.start, s.end) for s in article.sentences or []] or [(0, len(text))]
            sentences = [TOKEN_RE.findall(text, start, end) for start, end in spans]
            record = {
                "url": article.url,
                "display_text": text,
                "sentences": spans,
                "tags": [" ".join(t) for t in tagger.tag_document(sentences, place_rule=False)],
                "placed": [" ".join(t) for t in tagger.tag_document(sentences)],
                "entities": [vars(e) for e in tagger.entities(text, spans)],
            }
            lines.write(json.dumps(record, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
