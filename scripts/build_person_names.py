"""Write the Arabic names of Wikidata's people as a gazetteer for the entity tagger.

The arabic-name-romanizer package (MIT) ships an SQLite index of the Arabic labels
of Wikidata's people (CC0), each full name and each name part with the role it
plays (given name or surname) and how many people bear it. The names ANERcorp and
the news never show are most of the tagger's misses; these are facts about
names, read out of the package's wheel (nothing is installed):

    pip download --no-deps arabic-name-romanizer==0.2.0 -d wheels
    .venv/bin/python scripts/build_person_names.py \
        wheels/arabic_name_romanizer-0.2.0-py3-none-any.whl

Writes processors/resources/gazetteer-wikidata-persons.tsv.gz (kind<TAB>name):
full names of two words or more (WPERS), matched in the text like any listed
name, and name parts borne by at least MIN_BEARERS people (GIVEN, SURNAME), by
the role they play most, which the tagger reads as a property of a word. The
same wheel gives the same file.
"""

from __future__ import annotations

import gzip
import sqlite3
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import click

OUTPUT = (
    Path(__file__).resolve().parent.parent
    / "processors"
    / "resources"
    / "gazetteer-wikidata-persons.tsv.gz"
)
INDEX_IN_WHEEL = "arabic_name_romanizer/resources/names.sqlite3"
# The index also holds the package's own benchmark names (DziriNames), which are
# not Wikidata's and carry no role; only Wikidata's rows are read.
SOURCE = "wikidata"
# A part borne by one person only is as often a nickname or a mistake as a name.
MIN_BEARERS = 2
ROLES = {"given": "GIVEN", "surname": "SURNAME"}


def full_names(index: sqlite3.Connection) -> list[str]:
    """Wikidata's full names of two words or more, in the index's search form."""
    rows = index.execute(
        "SELECT DISTINCT arabic_key FROM full_names WHERE source = ? ORDER BY arabic_key",
        (SOURCE,),
    )
    return [name for (name,) in rows if len(name.split()) >= 2]


def name_parts(index: sqlite3.Connection) -> list[tuple[str, str]]:
    """(kind, part) of each one-word part borne often enough, by its most frequent role."""
    bearers: dict[str, Counter[str]] = {}
    rows = index.execute(
        "SELECT arabic_key, role, SUM(count) FROM units WHERE source = ? GROUP BY arabic_key, role",
        (SOURCE,),
    )
    for part, role, count in rows:
        if len(part.split()) == 1:
            bearers.setdefault(part, Counter())[role] += count
    parts = []
    for part, roles in bearers.items():
        if roles.total() < MIN_BEARERS:
            continue
        # Ties go to the first role in alphabetical order, so the file does not depend
        # on the order SQLite returns rows in.
        role = min(roles, key=lambda r: (-roles[r], r))
        if role in ROLES:
            parts.append((ROLES[role], part))
    return sorted(parts)


def read_index(wheel: Path) -> tuple[list[str], list[tuple[str, str]], str]:
    """(full names, parts, the index's build date) from the wheel's SQLite index."""
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(wheel) as archive:
            path = Path(archive.extract(INDEX_IN_WHEEL, tmp))
        index = sqlite3.connect(path)
        try:
            built = dict(index.execute("SELECT key, value FROM meta")).get("built", "unknown")
            return full_names(index), name_parts(index), built
        finally:
            index.close()


def write_gazetteer(
    output: Path, names: list[str], parts: list[tuple[str, str]], source: str
) -> None:
    header = (
        f"# Arabic labels of Wikidata's people (CC0), from {source}, written by "
        "scripts/build_person_names.py: kind<TAB>name.\n"
    )
    rows = [("WPERS", name) for name in names] + parts
    text = header + "".join(f"{kind}\t{name}\n" for kind, name in rows)
    # No timestamp in the gzip header: the same wheel gives the same bytes.
    output.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0))


@click.command()
@click.argument("wheel", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=OUTPUT)
def main(wheel: Path, output: Path) -> None:
    names, parts, built = read_index(wheel)
    write_gazetteer(output, names, parts, f"{wheel.name}, index built {built}")
    kinds = Counter(kind for kind, _part in parts)
    click.echo(
        f"{len(names)} full names, {kinds['GIVEN']} given names, "
        f"{kinds['SURNAME']} surnames -> {output}"
    )


if __name__ == "__main__":
    main()
