"""Main-text extraction from one HTML page, with trafilatura.

Called by `akhbar process --html` today; the ingest stage's page cleaning builds
on it. A page with no extractable text gives an Article with empty `text`
(the normalize step then has nothing to do); it does not raise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from trafilatura import bare_extraction

from akhbar.article import Article

# URL for a page that came without one (a file or stdin): ids must still be stable.
UNKNOWN_URL = "about:blank"


def extract(html: str | bytes, url: str | None = None) -> Article:
    """The article in `html`: main text, title, author, language and date when found."""
    document = bare_extraction(html, url=url, with_metadata=True, include_comments=False)
    found: dict[str, Any] = {} if document is None else _fields(document)
    page_url = url or found.pop("url", None) or UNKNOWN_URL
    found.pop("url", None)
    return Article.create(page_url, **found)


def _fields(document: Any) -> dict[str, Any]:
    fields = {
        "text": document.text or "",
        "title": document.title,
        "author": document.author,
        "language": document.language,
        "url": document.url,
        "published_at": _date(document.date),
    }
    return {k: v for k, v in fields.items() if v is not None}


def _date(value: str | None) -> datetime | None:
    """trafilatura's YYYY-MM-DD date as midnight UTC, or None when absent or odd."""
    if not value:
        return None
    try:
        return datetime.strptime(value[:10], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
