"""A cluster too slow for the bulk size: requests shrink until they get through.

Found by the reliability suite on a loaded machine: every 1,000-article bulk
request timed out, the stage went back to its last commit and sent the same
articles again at the same size, and never committed (the index showed
thousands of overwritten documents and no progress).
"""

from __future__ import annotations

from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConnectionTimeout

from akhbar.errors import SinkUnavailable
from sinks.search import SearchSink
from tests.helpers.articles import make_article
from tests.sinks.test_search import client, count, index_all, prefix, settings

# The search sink tests' fixtures: a fresh index prefix, a client that cleans it up.
__all__ = ["client", "prefix"]

ARTICLES = 400
# Bulk requests of more articles than this time out, as on a slow cluster.
SLOW_ABOVE = 100


class SlowForLargeBulks(OpenSearch):
    """The real client, except that bulk requests over SLOW_ABOVE articles time out
    (a real node cannot be made this slow on demand)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bulk_sizes: list[int] = []

    def bulk(self, *args: Any, **kwargs: Any) -> Any:
        articles = kwargs["body"].count("\n") // 2
        self.bulk_sizes.append(articles)
        if articles > SLOW_ABOVE:
            raise ConnectionTimeout("TIMEOUT", "Read timed out. (read timeout=30)", None)
        return super().bulk(*args, **kwargs)


def test_bulk_requests_shrink_after_timeouts_until_they_get_through(
    opensearch_url: str, prefix: str, client: OpenSearch
) -> None:
    # Given 400 articles and a cluster that times out on bulks of more than 100
    slow = SlowForLargeBulks(hosts=[opensearch_url], timeout=30)
    sink = SearchSink(settings(opensearch_url, prefix, bulk_max_docs=ARTICLES), client=slow)
    batch = [make_article(n) for n in range(ARTICLES)]

    # When the runner sends them again after each failed flush, as it does
    failures = 0
    while True:
        try:
            rejected = index_all(sink, batch)
            break
        except SinkUnavailable:
            failures += 1
            assert failures < 10, slow.bulk_sizes

    # Then the timeouts made the requests smaller until a whole flush got through
    assert slow.bulk_sizes[:3] == [400, 200, 100]
    assert rejected == []
    assert count(client, prefix) == ARTICLES
