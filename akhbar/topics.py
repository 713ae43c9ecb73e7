"""Topic names: the one place that says what flows where.

    ingest ──► articles.cleaned ──► normalize ──► articles.normalized ──► enrich
           ──► articles.enriched ──► sinks (jsonl, search)

Every topic has a dead-letter twin, `<topic>.dlq`, for the messages a stage
consuming it could never process.
"""

from __future__ import annotations

from dataclasses import dataclass

# New feed entries, before their pages are fetched (poller -> fetch stage).
DISCOVERED = "articles.discovered"
CLEANED = "articles.cleaned"
NORMALIZED = "articles.normalized"
ENRICHED = "articles.enriched"
PIPELINE_TOPICS = (CLEANED, NORMALIZED, ENRICHED)
DEAD_LETTER_SUFFIX = ".dlq"
# Compacted tables keyed by feed URL: the feed list, and each feed's poll state.
FEEDS = "feeds"
FEED_STATE = "feeds.state"
# Compacted and time-bounded, keyed by article id: what the fetch stage has cleaned.
FETCHED = "articles.discovered.fetched"


def dead_letter_topic(topic: str) -> str:
    """Where a stage consuming `topic` puts the messages it could never process."""
    return f"{topic}{DEAD_LETTER_SUFFIX}"


@dataclass(frozen=True)
class Topics:
    """Topic names under a deployment's prefix (several pipelines can share one cluster)."""

    prefix: str = ""

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def discovered(self) -> str:
        return self.name(DISCOVERED)

    @property
    def cleaned(self) -> str:
        return self.name(CLEANED)

    @property
    def normalized(self) -> str:
        return self.name(NORMALIZED)

    @property
    def enriched(self) -> str:
        return self.name(ENRICHED)

    @property
    def feeds(self) -> str:
        return self.name(FEEDS)

    @property
    def feed_state(self) -> str:
        return self.name(FEED_STATE)

    @property
    def fetched(self) -> str:
        return self.name(FETCHED)

    def all(self) -> list[str]:
        """Every topic the pipeline needs, dead-letter topics included."""
        main = [self.name(base) for base in (DISCOVERED, *PIPELINE_TOPICS)]
        return main + [dead_letter_topic(topic) for topic in main]
