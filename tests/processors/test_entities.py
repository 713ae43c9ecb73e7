"""Named entities from the shipped model on the real Aleppo article."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processors import entities as entities_module
from processors.arabic import sentence_spans
from processors.entities import (
    TOKEN_RE,
    Entity,
    EntityTagger,
    complete_names,
    consistent_types,
    document_features,
    merge_mentions,
    repeated_names,
    sentence_token_spans,
    titles_in_quotes,
    token_features,
    tokenize,
    without_non_names,
    word_key,
)
from processors.ner_eval import Score, documents, read_conll, spans
from scripts.train_ner import train

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return EntityTagger()


@pytest.fixture(scope="module")
def aleppo_entities(tagger: EntityTagger, aleppo_display_text: str) -> list[Entity]:
    # Sentence by sentence, as the enrich step tags (the model learned from sentences).
    return tagger.entities(aleppo_display_text, sentence_spans(aleppo_display_text))


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


def test_districts_of_aleppo_are_places(aleppo_entities: list[Entity]) -> None:
    # "أحياء سيف الدولة والمشهد والسكري وصلاح الدين" and "في حي الشيخ سعيد".
    places = canonical(aleppo_entities, "LOC")
    assert {"سيف الدولة", "صلاح الدين", "الشيخ سعيد"} <= places
    named = {e.canonical for e in aleppo_entities}
    assert not {"سيف", "الشيخ", "سعيد"} & named
    assert "صلاح الدين" not in canonical(aleppo_entities, "PERS")


def test_a_listed_place_is_a_place_only_where_a_place_can_stand(tagger: EntityTagger) -> None:
    # Given the same name after a district word and as a man's name
    district = tagger.entities("قصفت الطائرات حي صلاح الدين في المدينة.")
    person = tagger.entities("قاد صلاح الدين الجيوش إلى القدس.")
    # Then only the first is forced to be a place
    assert ("صلاح الدين", "LOC") in {(e.canonical, e.type) for e in district}
    assert ("صلاح الدين", "LOC") not in {(e.canonical, e.type) for e in person}


def test_the_fast_decoder_agrees_with_crfsuite(
    tagger: EntityTagger, aleppo_display_text: str
) -> None:
    sentences = [[t for t, _s, _e in tokenize(s)] for s in aleppo_display_text.split(".")]
    for block in documents(read_conll(FIXTURES / "anercorp-sample.txt")):
        tokens = [tokens for tokens, _tags in block]
        assert tagger.tag_document(tokens, place_rule=False) == tagger.reference_tags(tokens)
    assert tagger.tag_document(sentences, place_rule=False) == tagger.reference_tags(sentences)


@pytest.fixture(scope="module")
def tagged_articles() -> list[dict[str, Any]]:
    """Real articles with the tags and entities the tagger gave them (scripts/tagger_fixture.py)."""
    lines = (FIXTURES / "saudinewsnet-tagged.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def article_sentences(article: dict[str, Any]) -> tuple[list[tuple[int, int]], list[list[str]]]:
    text = article["display_text"]
    spans = [(start, end) for start, end in article["sentences"]]
    return spans, [TOKEN_RE.findall(text, start, end) for start, end in spans]


def assert_tags_as_before(tagger: EntityTagger, articles: list[dict[str, Any]]) -> None:
    for article in articles:
        spans, sentences = article_sentences(article)
        model = tagger.tag_document(sentences, place_rule=False)
        assert [" ".join(tags) for tags in model] == article["tags"], article["url"]
        placed = tagger.tag_document(sentences)
        assert [" ".join(tags) for tags in placed] == article["placed"], article["url"]
        found = tagger.entities(article["display_text"], spans)
        assert [vars(e) for e in found] == article["entities"], article["url"]


def test_the_tagger_keeps_its_tags_on_real_articles(
    tagger: EntityTagger, tagged_articles: list[dict[str, Any]]
) -> None:
    # Given 390 sentences of 25 real articles, tagged before the tagger scored from tables
    assert sum(len(article["tags"]) for article in tagged_articles) >= 300
    # Then it still gives the same tags, places and entities, twice (tables cold, then warm)
    assert_tags_as_before(tagger, tagged_articles)
    assert_tags_as_before(tagger, tagged_articles)


def test_small_tables_empty_themselves_and_change_no_tag(
    monkeypatch: pytest.MonkeyPatch, tagged_articles: list[dict[str, Any]]
) -> None:
    # Given tables far smaller than one article's vocabulary
    monkeypatch.setattr(entities_module, "FORM_TABLE_SIZE", 50)
    monkeypatch.setattr(entities_module, "DYNAMIC_CACHE", 3)
    small = EntityTagger()
    # Then they are emptied (or grown to one document) as articles come, and the tags stay
    assert_tags_as_before(small, tagged_articles)
    largest = max(len(set(TOKEN_RE.findall(a["display_text"]))) for a in tagged_articles)
    assert 50 < len(small._chain.forms) <= largest
    assert len(small._chain.dynamic_rows[0]) <= 3 + 8  # edges: the bound plus one document


def test_threads_sharing_a_tagger_get_their_own_tags(
    monkeypatch: pytest.MonkeyPatch, tagged_articles: list[dict[str, Any]]
) -> None:
    # Given one tagger whose small tables are emptied by nearly every article
    monkeypatch.setattr(entities_module, "FORM_TABLE_SIZE", 500)
    shared = EntityTagger()
    # When four threads tag the articles at once
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda a: assert_tags_as_before(shared, [a]), tagged_articles * 2))
    # Then each got the tags the article had (a failed assertion is raised by list())


def test_the_fast_decoder_agrees_with_crfsuite_on_real_articles(
    tagger: EntityTagger, tagged_articles: list[dict[str, Any]]
) -> None:
    for article in tagged_articles[::3]:
        _spans, sentences = article_sentences(article)
        assert tagger.tag_document(sentences, place_rule=False) == tagger.reference_tags(sentences)


def test_a_freshly_trained_model_decodes_as_crfsuite_does(tmp_path: Path) -> None:
    # Given a small model trained by the training script on the sample
    gold = read_conll(FIXTURES / "anercorp-sample.txt")
    model = tmp_path / "sample.crfsuite"
    train(gold, model)
    tagger = EntityTagger(str(model))
    tokens = [tokens for tokens, _tags in gold]
    # Then the array decoder finds crfsuite's own tags, which learnt the sample
    tagged = tagger.tag_document(tokens, place_rule=False)
    assert tagged == tagger.reference_tags(tokens)
    score = Score()
    for (_tokens, gold_tags), predicted in zip(gold, tagged, strict=True):
        score.add(gold_tags, predicted)
    assert score.prf()[2] > 0.9


def test_other_mentions_in_the_document_speak_for_a_name() -> None:
    # Given a name once after a title and once bare
    rows = document_features([["قال", "الرئيس", "بوتين", "امس"], ["ووصل", "بوتين", "الى", "دمشق"]])
    # Then the bare mention learns of the title, and the titled one not of itself
    assert "d:after=PERS" in rows[1][1]
    assert "d:after=PERS" not in rows[0][2]
    assert "d:seen" in rows[0][2]
    assert "d:seen" not in rows[0][0]


def test_names_and_common_nouns_differ_in_taking_the_article() -> None:
    assert "def=bare:never" in token_features("موسكو").own
    assert "def=bare:never" in token_features("بحلب").own
    assert "def=bare:both" in token_features("مدينة").own


def test_a_surname_alone_is_the_same_person(aleppo_entities: list[Entity]) -> None:
    mentions = [e for e in aleppo_entities if e.text == "لافروف"]
    assert mentions
    assert {e.canonical for e in mentions} == {"سيرجي لافروف"}


def test_a_name_tagged_once_is_tagged_where_it_recurs_with_or_without_a_clitic() -> None:
    # Given a document where the model tagged a full name once, and a place once
    sentences = [
        ["ولد", "سيغموند", "فرويد", "في", "فريبرغ"],
        ["وكان", "فرويد", "تلميذا", "متفوقا"],
        ["وكانت", "الزيارة", "هامة", "لفرويد", "ولم", "يعد", "إلى", "فريبرغ"],
    ]
    tags = [
        ["O", "B-PERS", "I-PERS", "O", "B-LOC"],
        ["O", "O", "O", "O"],
        ["O", "O", "O", "O", "O", "O", "O", "O"],
    ]
    # When the document's repeated names are tagged
    tagged = repeated_names(sentences, tags)
    # Then the surname alone and with a preposition is the person, the place a place
    assert tagged[1] == ["O", "B-PERS", "O", "O"]
    assert tagged[2] == ["O", "O", "O", "B-PERS", "O", "O", "O", "B-LOC"]


def test_a_word_tagged_with_two_types_in_a_document_is_not_spread() -> None:
    sentences = [["زار", "جدة"], ["سافر", "جدة"], ["من", "جدة"]]
    tags = [["O", "B-LOC"], ["O", "B-PERS"], ["O", "O"]]
    assert repeated_names(sentences, tags)[2] == ["O", "O"]


def test_a_name_tagged_with_two_types_takes_the_one_it_has_most_in_the_document() -> None:
    sentences = [["فاز", "يوفنتوس"], ["خسر", "يوفنتوس"], ["في", "يوفنتوس"], ["زار", "جدة"]]
    tags = [["O", "B-ORG"], ["O", "B-ORG"], ["O", "B-LOC"], ["O", "B-LOC"]]
    assert consistent_types(sentences, tags) == [
        ["O", "B-ORG"], ["O", "B-ORG"], ["O", "B-ORG"], ["O", "B-LOC"],
    ]  # fmt: skip
    # a tie changes nothing
    tied = [["O", "B-ORG"], ["O", "B-LOC"]]
    assert consistent_types(sentences[:2], [list(t) for t in tied]) == tied


def test_a_person_cut_short_on_a_joining_word_takes_the_rest_of_the_name() -> None:
    tokens = ["تولى", "علي", "بن", "أبي", "طالب", "الخلافة", "ثم", "عبد", "الله", "الثاني"]
    tags = ["O", "B-PERS", "I-PERS", "O", "O", "O", "O", "B-PERS", "I-PERS", "O"]
    assert complete_names(tokens, tags) == [
        "O", "B-PERS", "I-PERS", "I-PERS", "I-PERS", "O", "O", "B-PERS", "I-PERS", "I-PERS",
    ]  # fmt: skip
    # أبي is "my father" unless a بن comes before it
    tokens = ["فحملني", "أبي", "إلى", "المسرح"]
    assert complete_names(tokens, ["B-PERS", "I-PERS", "O", "O"]) == ["B-PERS", "I-PERS", "O", "O"]


def test_marks_a_lone_regnal_number_and_the_preposition_on_are_not_names() -> None:
    tokens = ["وقال", "''", "إن", "الثاني", "حصل", "على", "الجائزة", "على", "جمعة"]
    tags = ["O", "B-PERS", "O", "B-PERS", "O", "B-PERS", "O", "B-PERS", "I-PERS"]
    # The name على جمعة (علي written with alif maqsura) keeps its tag
    assert without_non_names(tokens, tags) == ["O"] * 7 + ["B-PERS", "I-PERS"]


def test_a_preposition_or_a_mark_ending_a_person_is_not_spread_as_the_surname() -> None:
    # The model ran the name on into the preposition after it (حصل محمد على جائزة)
    sentences = [["حصل", "محمد", "على", "جائزة"], ["حصوله", "على", "بطاقة"]]
    tags = [["O", "B-PERS", "I-PERS", "O"], ["O", "O", "O"]]
    assert repeated_names(sentences, tags)[1] == ["O", "O", "O"]
    # or into a closing quotation mark
    sentences = [["وقال", "أحمد", "''", "إن"], ["وأضاف", "''"]]
    tags = [["O", "B-PERS", "I-PERS", "O"], ["O", "O"]]
    assert repeated_names(sentences, tags)[1] == ["O", "O"]


def test_a_quoted_title_after_a_word_for_a_work_or_a_publication_is_a_name() -> None:
    def titles(text: str, tags: list[str] | None = None) -> list[str]:
        keys = [word_key(token) for token in text.split()]
        return titles_in_quotes(keys, tags or ["O"] * len(keys))

    # Films, novels and programmes are MISC, also with a clitic or the article
    assert titles("عرض فيلم « حلم » أمس") == ["O", "O", "O", "B-MISC", "O", "O"]
    assert titles("في الرواية \" أولاد حارتنا \" نفسها") == [
        "O", "O", "O", "B-MISC", "I-MISC", "O", "O",
    ]  # fmt: skip
    assert titles("وكتب بعنوان « أصل الكلمة »")[3:5] == ["B-MISC", "I-MISC"]
    # Newspapers, magazines and channels are organisations
    assert titles("وقالت صحيفة « السفير » إن") == ["O", "O", "O", "B-ORG", "O", "O"]
    # Not after any other word, not a long quotation, not over the model's own tags
    assert titles("وقال « الوقت محدود » أمس") == ["O"] * 6
    assert titles("فيلم « لم أكن أعرف أن الحرب ستطول » كما") == ["O"] * 10
    tagged = ["O", "O", "B-PERS", "I-PERS", "O"]
    assert titles("فيلم « نجيب محفوظ »", tagged) == tagged
    # An unclosed mark tags nothing
    assert titles("فيلم « حلم جديد") == ["O"] * 4


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


# Digits with separators, words, marks and punctuation: tokens a sentence edge can cut.
TOKEN_TEXT = st.text(st.sampled_from(list("12٣.,٫٬ حلبو\u064e\u0670«»،-a")), max_size=80)


@given(TOKEN_TEXT, st.lists(st.integers(min_value=0, max_value=80), max_size=6))
@settings(max_examples=400, deadline=None)
def test_sentence_tokens_cut_from_the_whole_texts_are_those_matched_in_each_sentence(
    text: str, cuts: list[int]
) -> None:
    # Given a text cut into sentences anywhere, mid-token too
    edges = sorted({0, len(text), *(min(cut, len(text)) for cut in cuts)})
    sentences = list(itertools.pairwise(edges))
    whole = [match.span() for match in TOKEN_RE.finditer(text)]
    # Then each sentence's tokens are those matched within it alone
    expected = [
        [match.span() for match in TOKEN_RE.finditer(text, start, end)] for start, end in sentences
    ]
    assert sentence_token_spans(text, sentences, whole) == expected
    assert sentence_token_spans(text, sentences) == expected


def test_entities_from_shared_token_spans_are_those_found_alone(
    tagger: EntityTagger, tagged_articles: list[dict[str, Any]]
) -> None:
    for article in tagged_articles:
        text = article["display_text"]
        spans, _sentences = article_sentences(article)
        whole = [match.span() for match in TOKEN_RE.finditer(text)]
        found = tagger.entities(text, spans, whole)
        assert [vars(e) for e in found] == article["entities"], article["url"]
