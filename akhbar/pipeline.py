"""The pipeline: which stages exist and how topics connect them.

    archive ──► articles.cleaned ──► normalize ──► articles.normalized
            ──► enrich ──► articles.enriched ──► jsonl

`run_pipeline` runs every stage of one process in its own thread over one bus;
`akhbar stage NAME` runs a single stage, for deployments over Kafka.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from akhbar.bus import Bus
from akhbar.config import Settings
from akhbar.errors import StageFailed
from akhbar.logs import get_logger
from akhbar.metrics import Metrics
from akhbar.runner import SourceRunner, Stage, StageRunner, step_identity
from akhbar.topics import Topics

# Each stage's module is imported only by a process that runs it: the processors
# bring camel-tools, numpy and scipy (through datasketch), seconds and ~100 MB that
# a sink, a poller or `akhbar status` has no use for. The names are each module's
# NAME (a test checks they agree).
STAGE_NAMES = ("archive", "poller", "fetch", "normalize", "enrich", "jsonl", "search")


def processing_stages(
    settings: Settings, metrics: Metrics | None = None, only: str | None = None
) -> list[Stage]:
    """The consumer stages, upstream first (or only the one named, when it is configured)."""
    return [
        stage
        for name, make in _stage_factories(settings, metrics)
        if only in (None, name)
        for stage in [make()]
    ]


def _stage_factories(
    settings: Settings, metrics: Metrics | None
) -> list[tuple[str, Callable[[], Stage]]]:
    factories: list[tuple[str, Callable[[], Stage]]] = []
    if settings.ingest.feeds:
        factories.append(("fetch", lambda: _fetch_stage(settings, metrics)))
    factories += [
        ("normalize", lambda: _normalize_stage(settings)),
        ("enrich", lambda: _enrich_stage(settings)),
    ]
    if settings.sinks.jsonl.enabled:
        factories.append(("jsonl", lambda: _jsonl_stage(settings, metrics)))
    if settings.sinks.search.enabled:
        factories.append(("search", lambda: _search_stage(settings, metrics)))
    return factories


def _fetch_stage(settings: Settings, metrics: Metrics | None) -> Stage:
    from ingest import stage as ingest_stage

    return ingest_stage.fetch_stage(settings, metrics)


def _normalize_stage(settings: Settings) -> Stage:
    from processors import normalize

    topics = Topics(settings.bus.topic_prefix)
    return Stage(
        normalize.NAME,
        normalize.VERSION,
        topics.cleaned,
        normalize.normalize,
        output_topic=topics.normalized,
    )


def _enrich_stage(settings: Settings) -> Stage:
    from processors import enrich

    topics = Topics(settings.bus.topic_prefix)
    enricher = enrich.Enricher.from_settings(settings.enrich)
    return Stage(
        enrich.NAME,
        enrich.VERSION,
        topics.normalized,
        enricher.enrich,
        output_topic=topics.enriched,
        make_durable=enricher.make_durable,
    )


def _jsonl_stage(settings: Settings, metrics: Metrics | None) -> Stage:
    from sinks import jsonl

    jsonl_settings = settings.sinks.jsonl
    return Stage(
        jsonl.NAME,
        jsonl.VERSION,
        Topics(settings.bus.topic_prefix).enriched,
        step_identity,
        sink=lambda: jsonl.JsonlSink(jsonl_settings, metrics),
    )


def _search_stage(settings: Settings, metrics: Metrics | None) -> Stage:
    from sinks import search

    search_settings = settings.sinks.search
    return Stage(
        search.NAME,
        search.VERSION,
        Topics(settings.bus.topic_prefix).enriched,
        step_identity,
        sink=lambda: search.SearchSink(search_settings, metrics=metrics),
    )


def archive_runner(
    settings: Settings, bus: Bus, metrics: Metrics, stop: threading.Event
) -> SourceRunner | None:
    if not settings.archive.paths:
        return None
    from ingest import archive

    source = archive.ArchiveSource(settings.archive.paths, settings.archive.state_path)
    return SourceRunner(
        bus, source, Topics(settings.bus.topic_prefix).cleaned, settings.runner, metrics, stop
    )


@dataclass
class PipelineRun:
    """The outcome of one `run_pipeline`: failures by stage, and each stage's stats."""

    failures: dict[str, BaseException] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def run_pipeline(
    settings: Settings,
    bus: Bus,
    metrics: Metrics,
    stop: threading.Event,
    once: bool = False,
    only: str | None = None,
) -> PipelineRun:
    """Run the stages (or only the one named) until stop is set.

    With `once`, every stage exits after its upstream has finished and its input
    is drained: a finite import runs through the whole pipeline and the process ends.
    """
    log = get_logger(stage="pipeline")
    result = PipelineRun()
    jobs: list[tuple[str, Callable[[threading.Event | None], Any]]] = []
    source = archive_runner(settings, bus, metrics, stop) if only in (None, "archive") else None
    if source is not None:
        jobs.append(("archive", lambda _upstream: source.run(until_exhausted=once)))
    poller = None
    if only in (None, "poller"):
        from ingest import stage as ingest_stage

        poller = ingest_stage.poller_runner(settings, bus, metrics, stop, once)
    if poller is not None:
        jobs.append(("poller", lambda _upstream: poller.run(until_exhausted=once)))
    for stage in processing_stages(settings, metrics, only):
        runner = StageRunner(
            bus, stage, settings.runner, metrics, stop, group_prefix=settings.bus.topic_prefix
        )
        jobs.append((stage.name, _stage_job(runner, once)))
    if only is not None and not jobs:
        raise StageFailed(f"no stage named {only!r} is configured; stages: {STAGE_NAMES}")

    # The first job has no upstream in this process: in `once` mode it drains at once.
    upstream_done: threading.Event | None = threading.Event() if once else None
    if upstream_done is not None:
        upstream_done.set()
    threads = []
    for name, job in jobs:
        done = threading.Event()
        thread = threading.Thread(
            target=_run_job,
            name=f"stage-{name}",
            daemon=True,
            args=(name, job, upstream_done, done, stop, result, log),
        )
        thread.start()
        threads.append(thread)
        upstream_done = done
    for thread in threads:
        while thread.is_alive():
            thread.join(timeout=0.5)
    return result


def _stage_job(runner: StageRunner, once: bool) -> Callable[[threading.Event | None], Any]:
    return lambda upstream: runner.run(drain_after=upstream if once else None)


def _run_job(
    name: str,
    job: Callable[[threading.Event | None], Any],
    upstream: threading.Event | None,
    done: threading.Event,
    stop: threading.Event,
    result: PipelineRun,
    log: Any,
) -> None:
    try:
        result.stats[name] = job(upstream)
    except BaseException as exc:  # a failed stage stops the whole process, uncommitted
        result.failures[name] = exc
        log.error("stage failed; stopping the pipeline", failed_stage=name, error=repr(exc))
        stop.set()
    finally:
        done.set()
