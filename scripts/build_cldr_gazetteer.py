"""Write the Arabic place names of the Unicode CLDR (as shipped in babel) as a gazetteer.

Country, region and continent names, and the cities CLDR names time zones after,
all in their Arabic spelling: facts, listed once, that the named-entity tagger's
curated list does not spell out by hand.

    .venv/bin/python scripts/build_cldr_gazetteer.py

Writes processors/resources/gazetteer-cldr.tsv (type<TAB>name). The same babel
version gives the same file.
"""

from __future__ import annotations

import re
from pathlib import Path

import babel
import click
from babel import Locale

OUTPUT = Path(__file__).resolve().parent.parent / "processors" / "resources" / "gazetteer-cldr.tsv"
# Territory codes that name organisations, not places (the UN, the EU, the euro area).
ORGANISATIONS = frozenset(("UN", "EU", "EZ"))
# Codes that name no particular place: the world, "unknown region", outlying Oceania.
NOT_PLACES = frozenset(("001", "ZZ", "QO"))
# One-word names this short are mostly common words or word parts in Arabic text
# (بلم for Belém is also a word); a short city name is not worth the false matches.
MIN_SINGLE_WORD_LETTERS = 4
# CLDR qualifies some names in brackets: (منطقة إدارية خاصة); the name is what comes before.
QUALIFIER_RE = re.compile(r"\s*\([^)]*\)")


def territory_rows(locale: Locale) -> list[tuple[str, str]]:
    rows = []
    for code, name in locale.territories.items():
        if code in NOT_PLACES:
            continue
        rows.append(("ORG" if code in ORGANISATIONS else "LOC", name))
    return rows


def city_rows(locale: Locale) -> list[tuple[str, str]]:
    return [("LOC", zone["city"]) for zone in locale.time_zones.values() if zone.get("city")]


def cleaned(name: str) -> str | None:
    name = QUALIFIER_RE.sub("", name).strip()
    words = name.split()
    if not words or (len(words) == 1 and len(words[0]) < MIN_SINGLE_WORD_LETTERS):
        return None
    return name


@click.command()
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=OUTPUT)
def main(output: Path) -> None:
    locale = Locale("ar")
    rows = sorted(
        {
            (kind, name)
            for kind, raw in territory_rows(locale) + city_rows(locale)
            if (name := cleaned(raw))
        }
    )
    header = (
        f"# Arabic place names of the Unicode CLDR, from babel {babel.__version__}, "
        "written by scripts/build_cldr_gazetteer.py: type<TAB>name.\n"
    )
    output.write_text(header + "".join(f"{kind}\t{name}\n" for kind, name in rows), "utf-8")
    click.echo(f"{len(rows)} names -> {output}")


if __name__ == "__main__":
    main()
