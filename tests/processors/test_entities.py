"""Named entities from the shipped model on the real Aleppo article."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from processors.entities import Entity, EntityTagger, merge_mentions
from processors.ner_eval import Score, spans


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return EntityTagger()


@pytest.fixture(scope="module")
def aleppo_entities(tagger: EntityTagger, aleppo_display_text: str) -> list[Entity]:
    return tagger.entities(aleppo_display_text)


def canonical(entities: Sequence[Entity], kind: str) -> set[str]:
    return {e.canonical for e in entities if e.type == kind}


def test_people(aleppo_entities: list[Entity]) -> None:
    assert {"زيد الصالح", "سيرجي لافروف"} <= canonical(aleppo_entities, "PERS")


def test_places_with_clitics_stripped(aleppo_entities: list[Entity]) -> None:
    places = canonical(aleppo_entities, "LOC")
    assert {"حلب", "تدمر", "الرقة", "موسكو", "الولايات المتحدة"} <= places
    assert not any(p.startswith(("بحلب", "لحلب")) for p in places)


def test_organisations(aleppo_entities: list[Entity]) -> None:
    assert {"داعش", "الخوذ البيضاء"} <= canonical(aleppo_entities, "ORG")


def test_offsets_point_into_the_text(
    aleppo_entities: list[Entity], aleppo_display_text: str
) -> None:
    for entity in aleppo_entities:
        assert aleppo_display_text[entity.start : entity.end] == entity.text


def test_a_surname_alone_is_the_same_person(aleppo_entities: list[Entity]) -> None:
    mentions = [e for e in aleppo_entities if e.text == "لافروف"]
    assert mentions
    assert {e.canonical for e in mentions} == {"سيرجي لافروف"}


def test_merge_keeps_different_people_apart() -> None:
    merged = merge_mentions(
        [
            Entity("سيرجي لافروف", "PERS", 0, 12, "سيرجي لافروف"),
            Entity("كيري", "PERS", 20, 24, "كيري"),
            Entity("لافروف", "PERS", 30, 36, "لافروف"),
        ]
    )
    assert [e.canonical for e in merged] == ["سيرجي لافروف", "كيري", "سيرجي لافروف"]


def test_the_prefix_of_a_known_place_is_cut(tagger: EntityTagger) -> None:
    entities = tagger.entities("وصل الوفد إلى دمشق ثم توجه بعدها بسرعة إلى حلب وعاد لدمشق مساء.")
    places = [e for e in entities if e.type == "LOC"]
    assert [e.canonical for e in places] == ["دمشق", "حلب", "دمشق"]


def test_scoring_counts_exact_spans_only() -> None:
    score = Score()
    score.add(["B-PERS", "I-PERS", "O", "B-LOC"], ["B-PERS", "O", "O", "B-LOC"])
    assert score.prf("LOC") == (1.0, 1.0, 1.0)
    assert score.prf("PERS") == (0.0, 0.0, 0.0)
    assert score.prf() == (0.5, 0.5, 0.5)


def test_a_stray_inside_tag_opens_an_entity() -> None:
    assert spans(["O", "I-ORG", "I-ORG", "B-LOC"]) == [(1, 3, "ORG"), (3, 4, "LOC")]
