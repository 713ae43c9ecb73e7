"""Build the auto-lexicon: words a named-entity model tags as names in unlabelled news.

Most names the tagger misses were never seen in the labelled corpus, but many of
them occur in the unlabelled news too, some of the time where the context gives
them away (after وزير, in a list of cities). A model trained on the labelled text
tags the news; a word it tags with one type, many times and in many articles, is
written out with that tag, and the tagger gets it as a feature (`auto=B-PERS`).

    .venv/bin/python scripts/build_auto_lexicon.py ../shared/data/saudinewsnet \
        --model processors/resources/ner.crfsuite

For cross-validation the model must be the fold's own (scripts/train_ner.py
--keep-models), so that the list knows nothing of the fold's held-out labels.
The same model and corpus give the same file: the tagger is deterministic.
"""

from __future__ import annotations

import gzip
import json
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import click

from processors.arabic import clean_characters, clean_whitespace, sentence_spans
from processors.entities import TOKEN_RE, EntityTagger, word_key

OUTPUT = Path(__file__).resolve().parent.parent / "processors" / "resources" / "auto-lexicon.tsv.gz"
# A word must be tagged as a name this many times, in this many articles: one
# article's mistake, repeated through it, is not enough.
MIN_TAGGED = 3
MIN_ARTICLES = 2
# Of all its occurrences, at least this share tagged as a name: common words
# that start a name now and then (مجلس, جامعة) stay out.
MIN_NAME_SHARE = 0.5
# Of its name tags, at least this share the same tag: a word tagged as a person
# as often as a place says nothing of its type.
MIN_TAG_SHARE = 0.75
# The mark of a word's tag when it was tagged too seldom for the list proper (`weak:B-PERS`).
WEAK = "weak:"


def article_texts(folder: Path, days: int | None) -> Iterator[str]:
    """Title and body of each SaudiNewsNet article, cleaned as the normalizer does."""
    for archive in sorted(folder.glob("*.zip"))[:days]:
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                for item in json.loads(zipped.read(name)):
                    text = f"{item.get('title') or ''}\n{item.get('content') or ''}"
                    yield clean_whitespace(clean_characters(text))


def article_sentences(folder: Path, days: int | None) -> Iterator[list[list[str]]]:
    """The tokens of each sentence of each article (`article_texts`), empty sentences left out."""
    for text in article_texts(folder, days):
        sentences = [TOKEN_RE.findall(text, start, end) for start, end in sentence_spans(text)]
        yield [tokens for tokens in sentences if tokens]


class TagCounts:
    """Per word key: its occurrences, its name tags, and the articles it was a name in."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.tags: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.articles: Counter[str] = Counter()
        # Articles read.
        self.read = 0

    def add_article(self, sentences: list[list[str]], tags: list[list[str]]) -> None:
        named = set()
        for tokens, sentence_tags in zip(sentences, tags, strict=True):
            for token, tag in zip(tokens, sentence_tags, strict=True):
                key = word_key(token)
                self.seen[key] += 1
                if tag != "O":
                    self.tags[key][tag] += 1
                    named.add(key)
        self.articles.update(named)
        self.read += 1

    def save(self, path: Path) -> None:
        """Write the counts to `path` (gzipped JSON), to make lists from again later."""
        counts = {
            "read": self.read,
            "seen": self.seen,
            "tags": self.tags,
            "articles": self.articles,
        }
        path.write_bytes(gzip.compress(json.dumps(counts, ensure_ascii=False).encode(), mtime=0))

    @classmethod
    def load(cls, path: Path) -> TagCounts:
        """Counts written by `save`."""
        saved = json.loads(gzip.decompress(path.read_bytes()))
        counts = cls()
        counts.read = saved["read"]
        counts.seen.update(saved["seen"])
        for key, tags in saved["tags"].items():
            counts.tags[key].update(tags)
        counts.articles.update(saved["articles"])
        return counts

    def lexicon(self, weak: bool = False) -> Iterator[tuple[str, str, int, int, int]]:
        """(word, tag, times tagged so, times seen, articles) of the words kept, sorted.

        With `weak`, a word tagged too seldom for the list proper (fewer than
        MIN_TAGGED times or in fewer than MIN_ARTICLES articles), but one way
        whenever tagged, is kept too, its tag marked WEAK: the model that reads
        the list learns how far to trust those.
        """
        for key in sorted(self.tags):
            tags = self.tags[key]
            tagged = sum(tags.values())
            tag, count = tags.most_common(1)[0]
            if not (
                tagged >= MIN_NAME_SHARE * self.seen[key]
                and count >= MIN_TAG_SHARE * tagged
                and len(key) > 1
            ):
                continue
            if tagged >= MIN_TAGGED and self.articles[key] >= MIN_ARTICLES:
                yield key, tag, count, self.seen[key], self.articles[key]
            elif weak:
                yield key, WEAK + tag, count, self.seen[key], self.articles[key]


def tag_news(model: Path, folder: Path, days: int | None = None) -> TagCounts:
    """The tag counts of `model` over the news in `folder`."""
    tagger = EntityTagger(str(model))
    counts = TagCounts()
    for sentences in article_sentences(folder, days):
        if sentences:
            counts.add_article(sentences, tagger.tag_document(sentences, place_rule=False))
    return counts


def write_lexicon(
    counts: TagCounts, output: Path, tagged_by: str, weak: bool = False
) -> Counter[str]:
    """Write the words `counts` keeps (`weak` ones too, marked) to `output`; their tags counted."""
    kept = list(counts.lexicon(weak))
    lines = [
        f"# Tagged by {tagged_by} in {counts.read} SaudiNewsNet articles; "
        "word<TAB>tag<TAB>times so tagged<TAB>times seen<TAB>articles tagged in",
        *("\t".join(map(str, row)) for row in kept),
    ]
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0))
    return Counter(tag for _key, tag, *_rest in kept)


def build(model: Path, folder: Path, output: Path, days: int | None = None) -> Counter[str]:
    """Tag the news with `model` and write the words kept to `output`; their tags counted."""
    return write_lexicon(tag_news(model, folder, days), output, model.name)


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The named-entity model that tags the news (a fold's own for cross-validation).",
)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=OUTPUT)
@click.option("--days", type=int, default=None, help="Read only the first DAYS day files.")
def main(folder: Path, model: Path, output: Path, days: int | None) -> None:
    by_tag = build(model, folder, output, days)
    click.echo(f"{sum(by_tag.values())} words kept -> {output}")
    click.echo(" ".join(f"{tag}:{n}" for tag, n in sorted(by_tag.items())))


if __name__ == "__main__":
    main()
