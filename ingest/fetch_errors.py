"""The fetch errors, apart so that the page client and the fetcher can both raise them.

Raised by ingest.fetch and ingest.page_client; the fetch step turns them into
dead letters (permanent) or retries (transient). `kind` names the failure for
metrics and feed health.
"""

from __future__ import annotations

from akhbar.errors import AkhbarError, InvalidArticle


class FetchError(AkhbarError):
    """Base of the fetch errors; `kind` names the failure for metrics and feed health."""

    kind = "fetch"


class PermanentFetchError(InvalidArticle, FetchError):
    """The page will never be fetched: dead-letter the message with this reason."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind


class TransientFetchError(FetchError):
    """The page may be fetched later; `retry_after_s` is the server's wish, if it gave one."""

    def __init__(self, kind: str, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.retry_after_s = retry_after_s
