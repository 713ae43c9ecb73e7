"""Mojibake repair on real text garbled the ways scraped Arabic news is."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.mojibake import repair_mojibake

ALEPPO = (Path(__file__).parent.parent / "fixtures" / "aleppo-article.txt").read_text("utf-8")


@pytest.mark.parametrize(
    ("garble", "kind"),
    [
        (lambda s: s.encode("utf-8").decode("cp1256"), "mojibake_utf8_as_cp1256"),
        (lambda s: s.encode("utf-8").decode("latin-1"), "mojibake_utf8_as_latin1"),
        (lambda s: s.encode("utf-8").decode("cp1252", "ignore"), None),
        (lambda s: s.encode("cp1256").decode("latin-1"), "mojibake_cp1256_as_latin1"),
    ],
)
def test_garbled_arabic_is_restored(garble, kind) -> None:  # type: ignore[no-untyped-def]
    garbled = garble(ALEPPO)
    repaired, repairs = repair_mojibake(garbled)
    if kind is None:
        # windows-1252 cannot decode five of the UTF-8 bytes: the text lost
        # information and cannot come back whole; nothing may get worse.
        assert len(repaired) <= len(garbled)
        return
    assert repaired == ALEPPO
    assert kind in repairs


@pytest.mark.parametrize(
    "clean",
    [
        ALEPPO,
        "Café résumé à Genève, naïve ÉTÉ — 50¢ façade",
        "Ø 25 mm, ± 0.5 — Straße Œuvre",
        "ضغط، طب، ظل: طارق",
        "پاکستان کے وزیراعظم نے کہا ہے کہ ملک میں انتخابات وقت پر ہوں گے۔ «ٹھیک»",
    ],
)
def test_clean_text_is_left_exactly_alone(clean: str) -> None:
    assert repair_mojibake(clean) == (clean, {})
