"""Precision and recall of story grouping on labelled SaudiNewsNet pairs.

Every article of the sampled days goes through normalization and the story
index in order of extraction time (as the stage would see them); a labelled
pair counts as predicted-same when both articles got one story_id.

    .venv/bin/python -m scripts.evaluate_stories ../shared/data/saudinewsnet \
        benchmarks/story-pairs.tsv --days 2
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import click

from processors.normalize import normalize
from processors.stories import StoryIndex
from scripts.saudinewsnet import read_articles


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("pairs", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--days", type=int, default=2)
def main(folder: Path, pairs: Path, days: int) -> None:
    articles = sorted(read_articles(folder, days), key=lambda a: a.fetched_at)
    stories: dict[str, str | None] = {}
    copies = 0
    with tempfile.TemporaryDirectory() as tmp:
        index = StoryIndex(Path(tmp) / "stories.sqlite")
        for article in articles:
            normalized = normalize(article)
            match = index.assign(article.url, normalized.search_text or "", article.fetched_at)
            stories[article.url] = match.story_id if match else None
            copies += bool(match and match.duplicate_of)
        index.close()
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    with pairs.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            a, b = stories.get(row["url_a"]), stories.get(row["url_b"])
            predicted = a is not None and a == b
            gold = row["same"] == "1"
            counts[("t" if predicted == gold else "f") + ("p" if predicted else "n")] += 1
    precision = counts["tp"] / max(1, counts["tp"] + counts["fp"])
    recall = counts["tp"] / max(1, counts["tp"] + counts["fn"])
    stories_count = len(set(s for s in stories.values() if s))
    click.echo(f"{len(articles)} articles, {stories_count} stories, {copies} copies")
    click.echo(f"pairs {sum(counts.values())}: {counts}")
    click.echo(f"precision {precision:.3f} recall {recall:.3f}")


if __name__ == "__main__":
    main()
