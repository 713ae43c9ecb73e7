"""The search sink: enriched articles into an Elasticsearch or OpenSearch index.

opensearch-py speaks the REST API both engines share (elasticsearch-py refuses
servers that are not Elasticsearch). Its bulk helper batches by count and bytes
and retries 429 items with backoff; this sink adds batching by time and decides
what each failed item means:

* a mapping or validation error (400 and other 4xx): the article can never be
  indexed; `flush` returns it as a rejection and the runner dead-letters it;
* 429, 5xx, a write block (403 cluster_block_exception, set when a disk fills),
  a timeout or a refused connection: the cluster cannot take writes now;
  SinkUnavailable is raised, nothing is committed, and the runner goes back to
  the last commit and tries again with backoff until the cluster is back.

Idempotence: `_id` is the article id and every write is a full `index`
(always-overwrite). A redelivered article writes the same document again, so the
count of documents never changes; an article reprocessed by a newer stage
version arrives later on the same partition (messages are keyed by id, so
ordered per article) and replaces the older document. External versioning was
not chosen because stage versions are free-form strings with no order the
engine could compare.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import ConnectionTimeout, OpenSearchException, TransportError

from akhbar.article import Article
from akhbar.bus import Message
from akhbar.config import SearchSinkSettings
from akhbar.errors import SinkUnavailable
from akhbar.logs import get_logger
from akhbar.metrics import Metrics
from akhbar.runner import Rejection, record_fields
from sinks.index import alias_name, article_date, document, index_name, index_template
from sinks.metrics import REJECTED, RETRYABLE, UNAVAILABLE, SearchMetrics

NAME = "search"
VERSION = "1"

# Per-item statuses that say "the cluster, not the article": try again later.
RETRYABLE_STATUSES = frozenset({408, 429})
# 4xx errors about the cluster, not the article, fixed by an operator, after which
# the same article indexes fine: a write block (read-only index, flood-stage disk),
# a closed or missing index where auto-creation is off, missing privileges.
CLUSTER_ERROR_TYPES = frozenset(
    {
        "cluster_block_exception",
        "index_closed_exception",
        "index_not_found_exception",
        "security_exception",
    }
)
# A 429 item is retried this many times inside one flush (the bulk helper's own
# backoff) before the whole flush is given up as SinkUnavailable.
BULK_429_RETRIES = 3
BULK_INITIAL_BACKOFF_S = 1
# A bulk request that times out is sent again from the last commit; at the same
# size it would time out again forever on a slow cluster. Each timeout halves the
# articles per request, down to this; each success adds this many back (slowly,
# or the requests would grow back to the size that timed out within one commit).
MIN_BULK_DOCS = 10


def open_client(settings: SearchSinkSettings) -> OpenSearch:
    """A client from the settings; secrets go to the client only, never to logs."""
    options: dict[str, Any] = {
        "hosts": settings.hosts,
        "timeout": settings.request_timeout_s,
        # Connection errors and timeouts are the runner's to retry, with its backoff.
        "max_retries": 0,
        "verify_certs": settings.verify_certs,
    }
    if settings.ca_certs is not None:
        options["ca_certs"] = str(settings.ca_certs)
    if settings.api_key is not None:
        options["headers"] = {"Authorization": f"ApiKey {settings.api_key.get_secret_value()}"}
    elif settings.username is not None:
        password = settings.password.get_secret_value() if settings.password else ""
        options["http_auth"] = (settings.username, password)
    return OpenSearch(**options)


@dataclass
class _Pending:
    article: Article
    record: Message
    action: dict[str, Any]


class SearchSink:
    """Indexes articles in bulk; made by the runner for the `search` stage.

    `add` buffers an article, sending a bulk request when the buffer reaches the
    count, byte or age limit; `flush` sends the rest and returns the articles the
    engine refused for good. When the cluster cannot take writes, `flush` raises
    SinkUnavailable and forgets its buffer (the runner adds those articles again);
    a failure while sending from `add` is held and raised by the next `flush`.
    """

    def __init__(
        self,
        settings: SearchSinkSettings,
        client: OpenSearch | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._settings = settings
        self._metrics = SearchMetrics.of(metrics or Metrics())
        self._client = client or open_client(settings)
        self._log = get_logger(stage=NAME)
        self._buffer: list[_Pending] = []
        self._buffer_bytes = 0
        self._oldest = 0.0
        self._rejections: list[Rejection] = []
        self._failure: SinkUnavailable | None = None
        self._template_ready = False
        # Articles per bulk request now: bulk_max_docs, smaller after timeouts.
        self._bulk_docs = settings.bulk_max_docs

    def add(self, article: Article, record: Message) -> None:
        if self._failure is not None:
            return  # the runner will go back to the last commit; nothing here is kept
        action = self._action(article)
        if not self._buffer:
            self._oldest = time.monotonic()
        self._buffer.append(_Pending(article, record, action))
        # The byte limit is measured on the article's own JSON, close to what is sent.
        self._buffer_bytes += len(record.value)
        if self._buffer_full():
            try:
                self._send()
            except SinkUnavailable as exc:
                self._failure = exc

    def flush(self) -> Sequence[Rejection]:
        try:
            if self._failure is not None:
                raise self._failure
            self._send()
        except SinkUnavailable:
            self._forget()
            raise
        rejections, self._rejections = self._rejections, []
        return rejections

    def close(self) -> None:
        self._client.close()

    def _buffer_full(self) -> bool:
        limits = self._settings
        return (
            len(self._buffer) >= self._bulk_docs
            or self._buffer_bytes >= limits.bulk_max_bytes
            or time.monotonic() - self._oldest >= limits.bulk_max_age_s
        )

    def _forget(self) -> None:
        self._buffer, self._buffer_bytes = [], 0
        self._rejections, self._failure = [], None

    def _action(self, article: Article) -> dict[str, Any]:
        return {
            "_op_type": "index",
            "_index": index_name(self._settings.index_prefix, article_date(article)),
            "_id": article.id,
            "_source": document(article),
        }

    def _send(self) -> None:
        if not self._buffer:
            return
        self._ensure_template()
        batch, self._buffer, self._buffer_bytes = self._buffer, [], 0
        started = time.perf_counter()
        try:
            results = helpers.streaming_bulk(
                self._client,
                (pending.action for pending in batch),
                chunk_size=self._bulk_docs,
                max_chunk_bytes=self._settings.bulk_max_bytes,
                raise_on_error=False,
                raise_on_exception=True,
                max_retries=BULK_429_RETRIES,
                initial_backoff=BULK_INITIAL_BACKOFF_S,
            )
            failed = {
                result["_id"]: result for ok, item in results if not ok for result in item.values()
            }
        except ConnectionTimeout as exc:
            self._metrics.error(UNAVAILABLE, type(exc).__name__).inc()
            self._shrink_bulks()
            raise SinkUnavailable(f"search cluster unavailable: {_describe(exc)}") from exc
        except (TransportError, OpenSearchException) as exc:
            self._metrics.error(UNAVAILABLE, type(exc).__name__).inc()
            raise SinkUnavailable(f"search cluster unavailable: {_describe(exc)}") from exc
        finally:
            self._metrics.bulk_seconds.observe(time.perf_counter() - started)
        self._bulk_docs = min(self._settings.bulk_max_docs, self._bulk_docs + MIN_BULK_DOCS)
        self._classify(batch, failed)

    def _shrink_bulks(self) -> None:
        smaller = max(MIN_BULK_DOCS, self._bulk_docs // 2)
        if smaller < self._bulk_docs:
            self._log.warning(
                "bulk request timed out; sending fewer articles per request",
                articles_per_request=smaller,
            )
        self._bulk_docs = smaller

    def _classify(self, batch: list[_Pending], failed: dict[str, dict[str, Any]]) -> None:
        """Refused articles become rejections; any retryable failure fails the flush."""
        retryable = [item for item in failed.values() if is_retryable(item)]
        for failure in failed.values():
            kind = RETRYABLE if is_retryable(failure) else REJECTED
            self._metrics.error(kind, _error_type(failure)).inc()
        if retryable:
            first = retryable[0]
            raise SinkUnavailable(
                f"search cluster refused {len(retryable)} of {len(batch)} writes for now: "
                f"status {first.get('status')}, {_error_reason(first)}"
            )
        for pending in batch:
            item = failed.get(pending.article.id)
            if item is not None:
                reason = f"search index refused the article: {_error_reason(item)}"
                self._log.warning(
                    "refused by the index",
                    **record_fields(pending.record),
                    article_id=pending.article.id,
                    url=pending.article.url,
                    reason=reason,
                )
                self._rejections.append((pending.record, reason))

    def _ensure_template(self) -> None:
        """Install the index template once; a down cluster is SinkUnavailable, retried later."""
        if self._template_ready:
            return
        prefix = self._settings.index_prefix
        try:
            self._client.indices.put_index_template(
                name=alias_name(prefix), body=index_template(prefix)
            )
        except (TransportError, OpenSearchException) as exc:
            self._metrics.error(UNAVAILABLE, type(exc).__name__).inc()
            raise SinkUnavailable(
                f"search cluster unavailable, no index template: {_describe(exc)}"
            ) from exc
        self._template_ready = True


def is_retryable(item: dict[str, Any]) -> bool:
    """True when a failed bulk item says the cluster, not the article, is the problem."""
    status = item.get("status")
    if not isinstance(status, int):
        return True
    if status in RETRYABLE_STATUSES or status >= 500:
        return True
    error = item.get("error")
    return isinstance(error, dict) and error.get("type") in CLUSTER_ERROR_TYPES


def _error_type(item: dict[str, Any]) -> str:
    """The engine's name for an item's error (`mapper_parsing_exception`), for metrics."""
    error = item.get("error")
    if isinstance(error, dict) and error.get("type"):
        return str(error["type"])
    return f"status-{item.get('status')}"


def _error_reason(item: dict[str, Any]) -> str:
    error = item.get("error")
    if isinstance(error, dict):
        return f"{error.get('type')}: {error.get('reason')}"
    return str(error)


def _describe(exc: Exception) -> str:
    """The error without the request (which may carry credentials in headers)."""
    if isinstance(exc, TransportError):
        return f"{type(exc).__name__} status={exc.status_code} {exc.error}"
    return type(exc).__name__
