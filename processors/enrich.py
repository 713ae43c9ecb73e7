"""Extraction: `articles.normalized` -> `articles.enriched`.

Reads the display text the normalize stage made and adds `entities` (named
entities with canonical names), `quantities`, `quotes` with their speakers,
`dates` resolved against `published_at`, and `story_id` / `duplicate_of` from
near-duplicate fingerprints of the search text. Each part lives in its own
module; this one composes them.
"""

from __future__ import annotations

import gc
from datetime import timedelta
from functools import cached_property
from pathlib import Path

from akhbar.article import Article, DateMention, EntityMention, QuantityMention, QuoteMention
from akhbar.config import EnrichSettings
from akhbar.errors import InvalidArticle
from processors.dates import extract_dates
from processors.entities import EntityTagger, load_lexicon
from processors.quantities import extract_quantities
from processors.quotes import extract_quotes
from processors.stories import StoryIndex
from processors.tokens import Tokens

NAME = "enrich"
# 1: entities, quantities, quotes, dates, stories.
# 2: durations, relative days with their weekday, untagged speakers, stories hashed per word.
# 3: entity names repeated, completed and made consistent over the article; model retrained.
# 4: the entity model reads how often the news has a word as a proper noun; model retrained.
# 5: the entity model reads Wikidata's people (full names, given names, surnames); retrained.
# 6: entity model retrained with a heavier L2 weight; quoted titles of works and papers.
# 7: entity model weighs features against tags unseen with them; marks, a lone على or
#    regnal number are no names.
VERSION = "7"
DEFAULT_STORIES_PATH = Path("data/stories.sqlite")
# Container allocations between two young collections once the model is loaded
# (CPython's default is 700). An article makes thousands of short-lived tuples and
# lists; at 700 the collector ran about once per article and promoted enough of
# the growing word tables to force a full collection every hundred or so, about
# 0.3 ms per article in all. Cycles wait a little longer: a few MB at most.
YOUNG_COLLECTION_EVERY = 10_000


class Enricher:
    """The enrich step with its state: the entity model and the story index.

    Built once per stage; the model loads on the first article, and the story
    index opens its SQLite file then too. Once loaded, the model and its word
    lists are moved out of the garbage collector's sight (see `_settle`).
    `enrich` raises InvalidArticle for an article the normalize stage has not
    seen (no display text), so it is dead-lettered with that reason; any other
    error is left to the runner's retries.
    """

    def __init__(
        self,
        stories_path: Path | None = DEFAULT_STORIES_PATH,
        story_window: timedelta = timedelta(days=3),
    ) -> None:
        self._stories_path = stories_path
        self._story_window = story_window

    @classmethod
    def from_settings(cls, settings: EnrichSettings) -> Enricher:
        return cls(settings.stories_path, timedelta(hours=settings.story_window_hours))

    @cached_property
    def tagger(self) -> EntityTagger:
        tagger = EntityTagger()
        load_lexicon()  # otherwise read on the first article, after the settling
        _settle()
        return tagger

    @cached_property
    def stories(self) -> StoryIndex | None:
        if self._stories_path is None:
            return None
        return StoryIndex(self._stories_path, self._story_window)

    def make_durable(self) -> None:
        """Called by the stage before it commits offsets: the story index on disk for
        good. A database error propagates, and the stage then commits nothing."""
        # Nothing to do before the first article opens the index.
        stories = self.__dict__.get("stories")
        if stories is not None:
            stories.make_durable()

    def enrich(self, article: Article) -> Article:
        """The article with its extractions added; see the module docstring."""
        if article.display_text is None:
            raise InvalidArticle("no display_text: the article has not been normalized")
        if article.is_arabic is False:
            update, tokens = _nothing_found(), None
        else:
            # One tokenization for the rule passes and the story fingerprints.
            tokens = Tokens.of(article.display_text, article.search_text)
            update = self.extract(article, tokens)
        update.update(self._story(article, tokens))
        return article.model_copy(update=update)

    def extract(self, article: Article, tokens: Tokens | None = None) -> dict[str, object]:
        """Entities, quantities, quotes and dates; `tokens` are the display text's when made."""
        text = article.display_text or ""
        sentences = [(s.start, s.end) for s in article.sentences or []] or [(0, len(text))]
        tokens = tokens or Tokens.of(text, article.search_text)
        entities = self.tagger.entities(text, sentences, tokens.spans)
        quantities = extract_quantities(text, tokens)
        quotes = extract_quotes(text, entities, sentences, tokens)
        dates = extract_dates(text, article.published_at, tokens)
        return {
            "entities": [EntityMention(**vars(e)) for e in entities],
            "quantities": [QuantityMention(**vars(q)) for q in quantities],
            "quotes": [QuoteMention(**vars(q)) for q in quotes],
            "dates": [DateMention(**vars(d)) for d in dates],
        }

    def _story(self, article: Article, tokens: Tokens | None) -> dict[str, object]:
        if self.stories is None:
            return {}
        at = article.published_at or article.fetched_at
        keys = tokens.keys if tokens is not None else None
        match = self.stories.assign(article.id, article.search_text or "", at, keys)
        if match is None:
            return {}
        return {"story_id": match.story_id, "duplicate_of": match.duplicate_of}


def _settle() -> None:
    """Move every object alive now into the collector's permanent generation, and
    collect the young generation less often (YOUNG_COLLECTION_EVERY).

    The model's weights by feature name, the word clusters and the gazetteers
    live as long as the process and are never garbage, yet each full collection
    walked all their entries again: a few times per thousand articles, at 60 ms
    or more each, about 0.4 ms per article. Objects frozen here are still freed
    when no longer referenced; only cycles among them would wait for the process
    to end, and what is alive at start-up is the stage itself. A threshold set
    higher than ours is kept.
    """
    gc.collect()
    gc.freeze()
    young, *older = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_COLLECTION_EVERY), *older)


def _nothing_found() -> dict[str, object]:
    return {"entities": [], "quantities": [], "quotes": [], "dates": []}
