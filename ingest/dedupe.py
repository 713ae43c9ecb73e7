"""The fetch stage's output, where dedup by canonical URL is final.

`articles.discovered` is keyed by article id (the sha256 of the canonical URL),
so every discovery of one URL, from any feed and any poller, lands in one
partition and is read by the one fetch consumer that holds it. `FetchedIds`
remembers which ids were cleaned, per partition, in the table
`articles.discovered.fetched`: compacted, time-bounded (`retention.ms` = the
window) and co-partitioned with `articles.discovered`, so the memory of a
partition moves with it to whichever consumer is assigned it next.

`DedupedOutput` is the fetch stage's Sink. `add` drops an article whose id was
cleaned within the window (logged and counted); `flush` stores the cleaned
articles first, then their ids, then the runner commits. Killed between the
two, the articles are fetched once more and sent again (never lost); a flush
that fails forgets the ids it held, so the runner's redelivery is not mistaken
for repeats.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from akhbar.article import Article
from akhbar.bus import Bus, Message, PartitionReader, Producer
from akhbar.logs import get_logger
from akhbar.runner import Rejection
from ingest.metrics import IngestMetrics

# Forgotten ids are dropped from memory this often; the table's retention does the same.
PRUNE_INTERVAL_S = 600.0
# Reading a partition's ids must not wait forever on a sick broker.
LOAD_TIMEOUT_S = 60.0


def fetched_topic_configs(window_s: float) -> dict[str, str]:
    return {"cleanup.policy": "compact,delete", "retention.ms": str(int(window_s * 1000))}


class FetchedIds:
    """Ids cleaned within the window, per partition of articles.discovered.

    Shared by the fetch step (which skips fetching an id already known) and
    DedupedOutput (which decides). A partition is loaded from the table the first
    time one of its messages arrives, and read on from where it was whenever its
    offsets jump: another consumer held it in between and may have cleaned more.
    Raises BusError when the table cannot be read.
    """

    def __init__(self, bus: Bus, topic: str, window_s: float) -> None:
        self.bus = bus
        self.topic = topic
        self.window_s = window_s
        self._ids: dict[str, float] = {}
        self._readers: dict[int, PartitionReader] = {}
        self._next_offset: dict[int, int] = {}
        self._next_prune = time.monotonic() + PRUNE_INTERVAL_S

    def known(self, article_id: str) -> bool:
        seen_at = self._ids.get(article_id)
        return seen_at is not None and time.time() - seen_at < self.window_s

    def follow(self, record: Message) -> None:
        """Be up to date for `record`'s partition before deciding about it."""
        partition = record.partition
        expected = self._next_offset.get(partition)
        if expected is None:
            self._readers[partition] = self.bus.reader(self.topic, [partition])
            self._read(partition)
        elif record.offset > expected:
            self._read(partition)
        self._next_offset[partition] = record.offset + 1

    def remember(self, ids: dict[str, float]) -> None:
        self._ids.update(ids)
        if time.monotonic() >= self._next_prune:
            cutoff = time.time() - self.window_s
            self._ids = {i: t for i, t in self._ids.items() if t >= cutoff}
            self._next_prune = time.monotonic() + PRUNE_INTERVAL_S

    def _read(self, partition: int) -> None:
        for message in self._readers[partition].read_to_end(LOAD_TIMEOUT_S):
            if message.key is None:
                continue
            if message.value:
                self._ids[message.key.decode()] = float(message.value)
            else:
                self._ids.pop(message.key.decode(), None)

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()


class DedupedOutput:
    """The fetch stage's Sink: cleaned articles to their topic, each id once per window."""

    def __init__(
        self,
        bus: Bus,
        output_topic: str,
        ids: FetchedIds,
        metrics: IngestMetrics | None = None,
        also_close: Sequence[Callable[[], None]] = (),
    ) -> None:
        self._bus = bus
        self._also_close = also_close
        self._output_topic = output_topic
        self._ids = ids
        self._metrics = metrics
        self._producer: Producer = bus.producer()
        self._pending: dict[str, float] = {}
        self.log = get_logger(stage="fetch")
        bus.ensure_topics([ids.topic], configs={ids.topic: fetched_topic_configs(ids.window_s)})

    def add(self, article: Article, record: Message) -> None:
        self._ids.follow(record)
        if article.id in self._pending or self._ids.known(article.id):
            self._count_repeat(article, record)
            return
        self._producer.send(self._output_topic, article.to_bytes(), key=article.id.encode())
        self._pending[article.id] = time.time()

    def flush(self) -> Sequence[Rejection]:
        try:
            self._producer.flush()
            for article_id, cleaned_at in self._pending.items():
                value = f"{cleaned_at:.0f}".encode()
                self._producer.send(self._ids.topic, value, key=article_id.encode())
            self._producer.flush()
        except Exception:
            # The runner goes back to its last commit and sends these again.
            self._pending.clear()
            self._replace_producer()
            raise
        self._ids.remember(self._pending)
        self._pending = {}
        return ()

    def _replace_producer(self) -> None:
        try:
            self._producer.close()
        finally:
            self._producer = self._bus.producer()

    def _count_repeat(self, article: Article, record: Message) -> None:
        if self._metrics is not None:
            self._metrics.repeats.inc()
        self.log.info(
            "already cleaned; not sent again",
            article_id=article.id,
            url=article.url,
            feed=article.feed,
            where=f"{record.topic}[{record.partition}]@{record.offset}",
        )

    def close(self) -> None:
        """Close the producer and what the stage's step holds (its fetcher, its cleaners)."""
        self._producer.close()
        self._ids.close()
        for close in self._also_close:
            close()
