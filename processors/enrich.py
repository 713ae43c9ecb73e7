"""Extraction: `articles.normalized` -> `articles.enriched`.

Entities, numbers, quotes, dates and story grouping come with the extraction
stage's own work; until then this step passes articles through.
"""

from __future__ import annotations

from akhbar.article import Article

NAME = "enrich"
VERSION = "0"


def enrich(article: Article) -> Article:
    """Pass-through: returns the article unchanged."""
    return article
