"""Where each stage process spends its time: a summary of py-spy's raw profiles.

    python benchmarks/end_to_end.py DATA --profile profiles/   # one file per stage process
    python benchmarks/profiles.py profiles/ [--top 12]

py-spy's raw format is one line per distinct stack, `frame;frame;...;frame COUNT`,
outermost frame first, each frame `function (path:line)`. For each stage this
prints: samples, the share of them spent waiting (the innermost frame is a
select, a lock or a condition wait), the busy samples by library (the innermost
frame's top-level package), the busiest functions by self time, and the
project's functions (akhbar/, ingest/, processors/, sinks/) by inclusive time.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import click

# Innermost frames in which a thread waits rather than works.
WAITING = re.compile(
    r"^(EpollSelector\.select|Condition\.wait|Event\.wait|Thread\._wait_for_tstate_lock|"
    r"_worker|select|sleep|_recv_into|SocketIO\.readinto|BaseSelector\.select|"
    r"KqueueSelector\.select|PollSelector\.select|Queue\.get|SimpleQueue\.get) "
)
PROJECT = ("akhbar/", "ingest/", "processors/", "sinks/")
FRAME = re.compile(r"^(?P<function>.*) \((?P<path>[^:()]*)(?::\d+)?\)$")


@dataclass
class StageProfile:
    samples: int = 0
    waiting: int = 0
    by_library: Counter[str] = field(default_factory=Counter)
    self_time: Counter[str] = field(default_factory=Counter)
    inclusive: Counter[str] = field(default_factory=Counter)

    @property
    def busy(self) -> int:
        return self.samples - self.waiting


def function_of(frame: str) -> tuple[str, str]:
    """(`function (path)` without the line number, path) of one frame."""
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), ""
    return f"{match['function']} ({match['path']})", match["path"]


def library_of(path: str) -> str:
    """The top-level package of a frame's file; the standard library by its module."""
    top = path.split("/", 1)[0]
    return top.removesuffix(".py") if "/" in path else f"stdlib {top.removesuffix('.py')}"


def summarize(path: Path) -> StageProfile:
    profile = StageProfile()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        profile.samples += count
        leaf, leaf_path = function_of(frames[-1])
        if WAITING.match(frames[-1].strip()):
            profile.waiting += count
            continue
        profile.self_time[leaf] += count
        profile.by_library[library_of(leaf_path)] += count
        for name in {function_of(f)[0] for f in frames}:
            if any(f"({prefix}" in name for prefix in PROJECT):
                profile.inclusive[name] += count
    return profile


def describe(label: str, profile: StageProfile, top: int) -> list[str]:
    busy = max(profile.busy, 1)

    def share(count: int) -> str:
        return f"{count / busy:6.1%}"

    lines = [
        f"## {label}: {profile.samples} samples, {profile.waiting / max(profile.samples, 1):.0%} "
        f"waiting, {profile.busy} busy",
        "busy samples by library: "
        + ", ".join(
            f"{lib} {count / busy:.0%}" for lib, count in profile.by_library.most_common(8)
        ),
        "self time (share of busy samples):",
        *(f"  {share(n)}  {name}" for name, n in profile.self_time.most_common(top)),
        "project functions, inclusive time:",
        *(f"  {share(n)}  {name}" for name, n in profile.inclusive.most_common(top)),
    ]
    return lines


@click.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--top", type=int, default=12, show_default=True)
def main(directory: Path, top: int) -> None:
    """Summarize every py-spy raw profile (*.txt) in DIRECTORY, one stage per file."""
    for path in sorted(directory.glob("*.txt")):
        for line in describe(path.stem, summarize(path), top):
            click.echo(line)
        click.echo("")


if __name__ == "__main__":
    main()
