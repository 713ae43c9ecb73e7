"""Dead letters: what the `.dlq` topics hold, why, and sending chosen ones back.

A dead letter is the original message (key and value untouched) with headers
saying why it failed (`akhbar.error`, `akhbar.error_type`), which stage gave up
(`akhbar.stage`) and where it was read (`akhbar.source`, `topic[partition]@offset`).
Replaying one re-publishes it to that source topic without the failure headers
and with `akhbar.replayed_from` naming the dead letter.

Each replayed dead letter is recorded in a ledger topic, `<dlq topic>.replayed`,
keyed by the dead letter's position, after the replayed copies are flushed. A
later replay skips what the ledger holds, unless forced, so the same dead letter
is not sent back twice by accident. A crash between the two flushes replays those
messages again on the next run: at least once, which is harmless because the
sinks keep one copy of an article per processor version (the JSON Lines sink by
id and stamps, the search sink by id). A replayed message that fails again is a
new dead letter at a new position, and can be replayed again once fixed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from akhbar.bus import Bus, Message, position
from akhbar.errors import AkhbarError, BusError
from akhbar.logs import get_logger
from akhbar.replay import HEADER_REPLAYED_FROM, send_again
from akhbar.runner import HEADER_ERROR, HEADER_ERROR_TYPE, HEADER_SOURCE, HEADER_STAGE
from akhbar.topics import DEAD_LETTER_SUFFIX

LEDGER_SUFFIX = ".replayed"
# `akhbar.source` of a stage's dead letter; a source's (an archive line) is not one.
POSITION = re.compile(r"^(?P<topic>.+)\[(?P<partition>\d+)\]@(?P<offset>\d+)$")
# Enough of a payload to recognise the article without flooding a terminal.
EXCERPT_CHARS = 300
# Parts of a reason that differ per message; `dlq list` groups reasons without them,
# so a thousand 404s are one line, not a thousand.
URL = re.compile(r"\bhttps?://\S+")
ARTICLE_ID = re.compile(r"\b[0-9a-f]{64}\b")


class DeadLetterError(AkhbarError):
    """A dead-letter command named a topic that is not a dead-letter topic."""


@dataclass(frozen=True)
class DeadLetter:
    """One message of a dead-letter topic, with its failure headers read out."""

    message: Message
    reason: str
    error_type: str
    stage: str
    source: str
    source_topic: str
    replayed_from: str | None

    @classmethod
    def of(cls, message: Message) -> DeadLetter:
        headers = {name: value.decode("utf-8", "replace") for name, value in message.headers or ()}
        source = headers.get(HEADER_SOURCE, "")
        found = POSITION.match(source)
        return cls(
            message=message,
            reason=headers.get(HEADER_ERROR, "(no reason recorded)"),
            error_type=headers.get(HEADER_ERROR_TYPE, ""),
            stage=headers.get(HEADER_STAGE, ""),
            source=source,
            # A source stage's rejects never reached the topic; they go to it now.
            source_topic=found["topic"] if found else message.topic[: -len(DEAD_LETTER_SUFFIX)],
            replayed_from=headers.get(HEADER_REPLAYED_FROM),
        )

    @property
    def position(self) -> str:
        return position(self.message)

    def matches_reason(self, text: str) -> bool:
        """Whether `text` is the error type or part of the reason, ignoring case."""
        needle = text.casefold()
        return needle == self.error_type.casefold() or needle in self.reason.casefold()

    def as_json(self, excerpt_chars: int = EXCERPT_CHARS) -> dict[str, Any]:
        article = _article_fields(self.message.value)
        text = self.message.value.decode("utf-8", "replace")
        return {
            "position": self.position,
            "partition": self.message.partition,
            "offset": self.message.offset,
            "time": _iso(self.message.timestamp),
            "reason": self.reason,
            "error_type": self.error_type,
            "stage": self.stage,
            "source": self.source,
            "source_topic": self.source_topic,
            "replayed_from": self.replayed_from,
            "article_id": article.get("id"),
            "url": article.get("url"),
            "excerpt": text[:excerpt_chars],
        }


def _article_fields(value: bytes) -> dict[str, Any]:
    """The payload's id and url when it is a JSON object; a dead letter may be anything."""
    try:
        data = json.loads(value)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _iso(timestamp_ms: int) -> str:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds")


def dead_letter_topics(bus: Bus, prefix: str = "") -> list[str]:
    """The dead-letter topics on the bus under a deployment's topic prefix."""
    return [
        topic
        for topic in bus.list_topics()
        if topic.startswith(prefix) and topic.endswith(DEAD_LETTER_SUFFIX)
    ]


def as_dead_letter_topic(name: str) -> str:
    """A dead-letter topic's name from itself or from its source topic's name."""
    if name.endswith(LEDGER_SUFFIX):
        raise DeadLetterError(f"{name} is a replay ledger, not a dead-letter topic")
    return name if name.endswith(DEAD_LETTER_SUFFIX) else f"{name}{DEAD_LETTER_SUFFIX}"


def ledger_topic(topic: str) -> str:
    """Where the replays of a dead-letter topic's messages are recorded."""
    return f"{topic}{LEDGER_SUFFIX}"


def read_dead_letters(bus: Bus, topic: str) -> Iterator[DeadLetter]:
    """Every dead letter still stored in `topic`, partition by partition; BusError if none such."""
    for message in bus.read_range(topic, bus.offset_ranges(topic)):
        yield DeadLetter.of(message)


def replayed_positions(bus: Bus, topic: str) -> set[str]:
    """The positions of the dead letters of `topic` that the ledger says were replayed."""
    ledger = ledger_topic(topic)
    if ledger not in bus.list_topics():
        return set()
    return {
        message.key.decode()
        for message in bus.read_range(ledger, bus.offset_ranges(ledger))
        if message.key is not None
    }


@dataclass
class TopicSummary:
    """A dead-letter topic's count, how many were replayed, and its reasons grouped."""

    topic: str
    count: int = 0
    replayed: int = 0
    # (stage, error type, reason without URLs and ids) -> how many dead letters say it.
    reasons: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "count": self.count,
            "replayed": self.replayed,
            "reasons": [
                {"stage": stage, "error_type": kind, "reason": reason, "count": count}
                for (stage, kind, reason), count in self.reasons.most_common()
            ],
        }


def summarize(bus: Bus, topic: str) -> TopicSummary:
    """Count a dead-letter topic's messages by reason; BusError when the bus cannot be read."""
    summary = TopicSummary(topic)
    done = replayed_positions(bus, topic)
    for letter in read_dead_letters(bus, topic):
        summary.count += 1
        summary.replayed += letter.position in done
        summary.reasons[(letter.stage, letter.error_type, reason_group(letter.reason))] += 1
    return summary


def reason_group(reason: str) -> str:
    """The reason with its URLs and article ids replaced by placeholders."""
    return ARTICLE_ID.sub("<id>", URL.sub("<url>", reason))


@dataclass
class DeadLetterReplay:
    """What a replay of dead letters sent back, and what it skipped as replayed before."""

    topic: str
    dry_run: bool
    replayed: list[DeadLetter] = field(default_factory=list)
    already_replayed: list[DeadLetter] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "dry_run": self.dry_run,
            "replayed": [_brief(letter) for letter in self.replayed],
            "skipped_as_replayed_before": [letter.position for letter in self.already_replayed],
        }


def _brief(letter: DeadLetter) -> dict[str, Any]:
    return {"position": letter.position, "to": letter.source_topic, "reason": letter.reason}


def replay_dead_letters(
    bus: Bus,
    topic: str,
    chosen: Callable[[DeadLetter], bool],
    force: bool = False,
    dry_run: bool = False,
) -> DeadLetterReplay:
    """Send the chosen dead letters of `topic` back to their source topics and record it.

    Dead letters the ledger holds are skipped unless `force`. Raises BusError when
    the copies cannot be stored (nothing is recorded then, so a retry sends them);
    a failure recording them leaves them sent but replayable again (at least once).
    """
    result = DeadLetterReplay(topic, dry_run)
    done = replayed_positions(bus, topic)
    for letter in read_dead_letters(bus, topic):
        if not chosen(letter):
            continue
        if letter.position in done and not force:
            result.already_replayed.append(letter)
        else:
            result.replayed.append(letter)
    if not dry_run and result.replayed:
        _send_back(bus, topic, result.replayed)
    return result


def _send_back(bus: Bus, topic: str, letters: list[DeadLetter]) -> None:
    log = get_logger(stage="dlq")
    ledger = ledger_topic(topic)
    bus.ensure_topics([ledger, *{letter.source_topic for letter in letters}])
    producer = bus.producer()
    try:
        for letter in letters:
            send_again(producer, letter.message, letter.source_topic)
        producer.flush()
        # Recorded only once the copies are stored: a failure here means sent, not recorded.
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for letter in letters:
            entry = {"dead_letter": letter.position, "to": letter.source_topic, "at": now}
            producer.send(ledger, json.dumps(entry).encode(), key=letter.position.encode())
        try:
            producer.flush()
        except BusError as exc:
            raise BusError(
                f"{len(letters)} dead letters were sent back but not recorded as replayed "
                f"({exc}); a new replay would send them again"
            ) from exc
    finally:
        producer.close()
    log.info("dead letters replayed", topic=topic, count=len(letters), ledger=ledger)
