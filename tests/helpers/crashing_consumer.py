"""A consumer process that the bus contract tests kill with SIGKILL.

Usage: crashing_consumer.py BUS_SETTINGS_JSON TOPIC GROUP COMMIT_FIRST

Reads every message of TOPIC, commits the first COMMIT_FIRST, produces each
later one to TOPIC.out and flushes, prints `READY <count>`, then waits to be killed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from akhbar.bus import open_bus
from akhbar.config import BusSettings


def main() -> None:
    settings_path, topic, group, commit_first = sys.argv[1:5]
    settings = BusSettings.model_validate_json(Path(settings_path).read_text())
    bus = open_bus(settings)
    consumer = bus.consumer(group, [topic])
    producer = bus.producer()
    messages = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        messages += consumer.poll(0.5, 500)
        if messages and consumer.at_end():
            break
    committed = messages[: int(commit_first)]
    consumer.commit({(m.topic, m.partition): m.offset + 1 for m in committed})
    for m in messages[int(commit_first) :]:
        producer.send(f"{topic}.out", m.value, key=m.key)
    producer.flush()
    print(f"READY {len(messages)}", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main()
