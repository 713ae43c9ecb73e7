"""The status page: feed health, stage counters and the latest stored articles, as HTML.

Rendered on the server for every request to /status, from what the process has
in memory (its registry and the latest articles its sinks stored) and the feed
state table. Titles, names, errors and URLs come from the outside world: every
one is escaped, links are made only for http(s) URLs, and the server sends a
Content-Security-Policy that allows no script at all, so a title that slipped
through escaping still could not run.

Arabic articles are marked `dir="rtl" lang="ar"`; others `dir="auto"`.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from akhbar.metrics import Metrics
from akhbar.observe.feeds import FeedHealth, count_by_state

# Seconds between reloads of the page; it shows a live process.
REFRESH_S = 15
# Failing and quiet feeds listed; the rest are counted.
MAX_FEEDS_LISTED = 200
ERROR_CHARS = 300

CSS = """
body { font: 15px/1.5 system-ui, "Noto Naskh Arabic", "Noto Sans Arabic", sans-serif;
       margin: 0 auto; max-width: 70rem; padding: 1rem; color: #1d1d1f; background: #fafafa; }
h1 { font-size: 1.4rem; margin: 0; } h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { border-bottom: 1px solid #e3e3e3; padding: .3rem .5rem; text-align: start;
         vertical-align: top; }
th { font-weight: 600; background: #f0f0f0; }
.num { text-align: end; font-variant-numeric: tabular-nums; }
.state-failing { color: #b00020; font-weight: 600; } .state-quiet { color: #a05a00; }
.error { font-family: ui-monospace, monospace; font-size: .85rem; word-break: break-word; }
ol.articles { list-style: none; padding: 0; }
ol.articles > li { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px;
                   margin: .5rem 0; padding: .6rem .9rem; }
.story h3 { font-size: 1.15rem; margin: 0 0 .25rem; }
.meta { color: #666; font-size: .85rem; margin: 0; }
ul.entities { list-style: none; padding: 0; margin: .4rem 0 0; display: flex; flex-wrap: wrap;
              gap: .3rem; }
ul.entities li { border-radius: 3px; padding: 0 .4rem; font-size: .9rem; background: #eef; }
ul.entities li.PERS { background: #e6f4ea; } ul.entities li.LOC { background: #e8f0fe; }
ul.entities li.ORG { background: #fef7e0; }
.empty { color: #666; font-style: italic; }
"""


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def render_page(
    metrics: Metrics,
    stages: Iterable[str],
    feeds: list[FeedHealth] | None,
    feeds_error: str | None,
    now: float | None = None,
) -> str:
    now = time.time() if now is None else now
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        '<!DOCTYPE html><html lang="en" dir="ltr"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="{REFRESH_S}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>Akhbar status</title><link rel="stylesheet" href="/status.css"></head><body>'
        f'<header><h1>Akhbar status</h1><p class="meta">as of {esc(stamp)}</p></header>'
        f"{_stages(metrics, stages)}{_feeds(feeds, feeds_error, now)}"
        f"{_articles(metrics.recent.latest())}</body></html>"
    )


def _stages(metrics: Metrics, stages: Iterable[str]) -> str:
    rows = []
    for stage in stages:
        values = [
            _sum(metrics, "akhbar_messages_in_total", stage),
            _sum(metrics, "akhbar_messages_out_total", stage),
            _sum(metrics, "akhbar_messages_dead_lettered_total", stage),
            _sum(metrics, "akhbar_consumer_lag", stage),
        ]
        cells = "".join(f'<td class="num">{int(v)}</td>' for v in values)
        rows.append(f'<tr class="stage"><td>{esc(stage)}</td>{cells}</tr>')
    if not rows:
        return ""
    head = (
        '<tr><th>stage</th><th class="num">in</th><th class="num">out</th>'
        '<th class="num">dead-lettered</th><th class="num">lag</th></tr>'
    )
    return f'<section id="stages"><h2>Stages</h2><table>{head}{"".join(rows)}</table></section>'


def _sum(metrics: Metrics, sample: str, stage: str) -> float:
    total = 0.0
    for family in metrics.registry.collect():
        for found in family.samples:
            if found.name == sample and found.labels.get("stage") == stage:
                total += found.value
    return total


def _feeds(feeds: list[FeedHealth] | None, error: str | None, now: float) -> str:
    title = '<section id="feeds"><h2>Feeds</h2>'
    if feeds is None:
        return f'{title}<p class="empty">No feed state: {esc(error)}</p></section>'
    counts = count_by_state(feeds)
    summary = ", ".join(f"{n} {state}" for state, n in counts.items())
    bad = [feed for feed in feeds if feed.state != "ok"][:MAX_FEEDS_LISTED]
    if not bad:
        return f'{title}<p class="meta">{esc(summary)}</p><p>Every feed is healthy.</p></section>'
    rows = "".join(_feed_row(feed, now) for feed in bad)
    head = (
        "<tr><th>feed</th><th>state</th><th>last error</th>"
        '<th class="num">streak</th><th>last item</th></tr>'
    )
    return (
        f'{title}<p class="meta">{esc(summary)}</p>'
        f'<table class="feeds">{head}{rows}</table></section>'
    )


def _feed_row(feed: FeedHealth, now: float) -> str:
    error = feed.last_error or feed.last_page_error or ""
    if len(error) > ERROR_CHARS:
        error = error[:ERROR_CHARS] + "…"
    return (
        f'<tr class="feed state-{esc(feed.state)}">'
        f'<td class="feed-name" dir="auto" title="{esc(feed.url)}">{esc(feed.label)}</td>'
        f'<td class="state state-{esc(feed.state)}">{esc(feed.state)}</td>'
        f'<td class="error" dir="auto">{esc(error)}</td>'
        f'<td class="num">{feed.error_streak}</td><td>{esc(ago(feed.last_item, now))}</td></tr>'
    )


def ago(moment: float | None, now: float) -> str:
    if moment is None:
        return "never"
    seconds = max(0.0, now - moment)
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def _articles(latest: list[dict[str, Any]]) -> str:
    title = '<section id="articles"><h2>Latest articles</h2>'
    if not latest:
        return f'{title}<p class="empty">No article stored by this process yet.</p></section>'
    items = "".join(f"<li>{_article(summary)}</li>" for summary in latest)
    return f'{title}<ol class="articles">{items}</ol></section>'


def _article(summary: dict[str, Any]) -> str:
    arabic = summary.get("is_arabic") is True or (
        summary.get("is_arabic") is None and summary.get("language") == "ar"
    )
    direction = 'dir="rtl" lang="ar"' if arabic else 'dir="auto"'
    title = esc(summary.get("title") or summary.get("url"))
    url = str(summary.get("url") or "")
    if urlsplit(url).scheme in ("http", "https"):
        title = f'<a href="{esc(url)}" rel="noopener noreferrer nofollow">{title}</a>'
    meta = " · ".join(
        esc(part) for part in (summary.get("source"), summary.get("published_at")) if part
    )
    entities = "".join(
        f'<li class="{esc(kind)}" title="{esc(kind)}">{esc(name)}</li>'
        for name, kind in summary.get("entities") or ()
    )
    entity_list = f'<ul class="entities">{entities}</ul>' if entities else ""
    return (
        f'<article class="story" {direction}><h3 class="title">{title}</h3>'
        f'<p class="meta" dir="ltr">{meta}</p>{entity_list}</article>'
    )
