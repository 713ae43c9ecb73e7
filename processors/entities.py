"""Named entities: persons (PERS), places (LOC), organisations (ORG) and the rest (MISC).

A linear-chain CRF (python-crfsuite) trained by `scripts/train_ner.py` on ANERcorp
and shipped in processors/resources tags tokens in IOB2. Its features are the
word's search form, affixes, the clitic-stripped stem, word clusters learned from
unlabelled news, the tag the tagger itself gave the word in unlabelled news (the
auto-lexicon), gazetteer membership (either spelling of غ/ج; Wikidata's people among
the lists, and whether a word is a given name or a surname) and trigger words,
over a window of two tokens either side. Entities come back with offsets into the display text and a
canonical form: clitics stripped (`بحلب` -> `حلب`) and a later short mention of a
person merged with the full name (`لافروف` -> `سيرجي لافروف`).

Features are defined once, as strings, and read two ways: training and crfsuite
get the strings (`document_features`); the tagger sums their weights from tables.
A word-level feature goes in `_word_features` (and is seen by the neighbours when
its prefix is in NEIGHBOUR_PREFIXES): the tagger's per-form table picks it up. A
feature that depends on the position or the document is a `DynamicKind` in
DYNAMIC_KINDS: where it fires and what it is named; the tagger caches its weights
per `what`, or indexes the model's features of that kind when it gives `parse`.
"""

from __future__ import annotations

import gzip
import re
import struct
import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from itertools import accumulate
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pycrfsuite

from processors.arabic import search_form

# Numbers keep their separators (1,500 / 2.5 / ١٬٥٠٠) so they stay one token;
# words keep their diacritics; any other non-space character is its own token.
TOKEN_RE = re.compile(r"\d+(?:[.,\u066b\u066c]\d+)*|[\w\u064b-\u065f\u0670]+|[^\w\s]")
# Word keys are cached: news vocabulary is small and repeats across articles.
WORD_KEY_CACHE = 200_000
TYPES = ("PERS", "LOC", "ORG", "MISC")
MODEL_FILE = "ner.crfsuite"
# crfsuite's feature kinds in its model file: a (attribute, label) weight or a (label, label) one.
CRFSUITE_STATE, CRFSUITE_TRANSITION = 0, 1
CLUSTERS_FILE = "word-clusters.tsv.gz"
ANERGAZET_FILES = {
    "LOC": "anergazet-loc.txt.gz",
    "ORG": "anergazet-org.txt.gz",
    "PERS": "anergazet-pers.txt.gz",
}
CURATED_GAZETTEER = "gazetteer-curated.tsv"
# Country, region and city names of the Unicode CLDR (scripts/build_cldr_gazetteer.py).
CLDR_GAZETTEER = "gazetteer-cldr.tsv"
# The Arabic names of Wikidata's people (scripts/build_person_names.py): full names,
# listed as kind WPERS, and the given names and surnames they are made of.
PERSON_GAZETTEER = "gazetteer-wikidata-persons.tsv.gz"
PERSON_NAME_KIND = "WPERS"
# A name part is a property of one word, read where the word's own features are
# (no matching in the sentence): GIVEN -> "given", SURNAME -> "surname".
PERSON_PART_ROLES = {"GIVEN": "given", "SURNAME": "surname"}
# Letters foreign names are written with either way (هونغ كونغ, هونج كونج): a
# listed name is also looked up with each letter of a pair written as the other.
SPELLING_PAIRS = (("غ", "ج"),)
# Words the tagger itself found as names, many times and in many articles, in
# unlabelled news (scripts/build_auto_lexicon.py): a type for names the labelled
# corpus never shows. Optional: without the file no such feature is made.
AUTO_LEXICON_FILE = "auto-lexicon.tsv.gz"
DEFINITENESS_FILE = "word-definiteness.tsv.gz"
# Shares (percent) of a word's news occurrences with the article, cut into bands:
# names sit at the ends (موسكو 0, الرياض 97), common nouns in between (مدينة 41).
DEFINITENESS_BANDS = ((5, "never"), (25, "seldom"), (75, "both"), (95, "mostly"), (101, "always"))
# Shares (percent) of a word's news occurrences a treebank-trained tagger called a
# proper noun (scripts/build_proper_nouns.py), cut into bands: كاميرون 100, مدينة 0.
PROPER_NOUN_FILE = "word-propernoun.tsv.gz"
PROPER_NOUN_BANDS = ((5, "never"), (35, "seldom"), (75, "often"), (101, "mostly"))
# The band of words the news never has as a proper noun, as its feature reads.
PROPER_NOUN_NEVER = "propn=" + PROPER_NOUN_BANDS[0][1]
ARTICLE = "ال"
# Longest gazetteer entry matched, in tokens; longer names are rare in news.
MAX_GAZETTEER_TOKENS = 5
# Proclitics, longest first, in search form: conjunction, preposition, article.
PROCLITICS = (
    "وبال",
    "فبال",
    "وال",
    "فال",
    "بال",
    "كال",
    "ولل",
    "لل",
    "ال",
    "و",
    "ف",
    "ب",
    "ل",
    "ك",
)
# Prefixes cut off an entity's first word: the entity starts after them.
DETACHABLE_PREFIXES = ("وب", "ول", "فب", "فل", "و", "ف", "ب", "ل", "ك")
# The shortest stem left after cutting a clitic; shorter leftovers are word parts.
MIN_STEM = 2
# Words that join the parts of a person's name (علي بن أبي طالب, أبو تراب): a name the
# model ends on one goes on to the next word (complete_names). أبي (also "my father")
# joins only after بن or بنت.
NAME_JOINERS = frozenset(
    ["بن", "ابن", "إبن", "بنت", "بنو", "بني", "أبو", "ابو", "أبا", "عبد", "آل"]
)
AFTER_SON_OF = frozenset(["أبي", "ابي"])
SON_OF = frozenset(["بن", "ابن", "إبن", "بنت"])
# Regnal numbers, part of the name before them (عبد الله الثاني).
REGNAL_NUMBERS = frozenset(
    [
        "الأول",
        "الاول",
        "الثاني",
        "الثالث",
        "الرابع",
        "الخامس",
        "السادس",
        "السابع",
        "الثامن",
        "التاسع",
        "العاشر",
    ]
)
# A lone word never a name whatever the model says (without_non_names): على is the
# preposition (the name علي written so keeps its tag when it heads a longer name).
NEVER_NAMES_ALONE = REGNAL_NUMBERS | frozenset(["على"])
# A name recurring in a document (repeated_names): the most words it is looked for
# with, and the fewest letters left of a first word once its proclitic is cut.
REPEATED_NAME_MAX_WORDS = 4
REPEATED_NAME_MIN_CHARS = 3
# Words that announce the type of the name that follows (search forms).
TRIGGERS = {
    "PERS": (
        "وزير",
        "الوزير",
        "الرئيس",
        "رئيس",
        "اللواء",
        "العميد",
        "العقيد",
        "الفريق",
        "الشيخ",
        "الامير",
        "الملك",
        "السيد",
        "الدكتور",
        "د",
        "المتحدث",
        "السفير",
        "النائب",
        "المستشار",
        "الجنرال",
        "الامين",
        "المبعوث",
        "ولي",
        "خادم",
        "سمو",
    ),
    "LOC": (
        "مدينه",
        "حي",
        "احياء",
        "بلده",
        "قريه",
        "محافظه",
        "منطقه",
        "ولايه",
        "عاصمه",
        "العاصمه",
        "دوله",
        "جمهوريه",
        "مملكه",
        "اقليم",
        "ريف",
        "جنوب",
        "شمال",
        "شرق",
        "غرب",
    ),
    "ORG": (
        "وزاره",
        "تنظيم",
        "منظمه",
        "جماعه",
        "وكاله",
        "حركه",
        "حزب",
        "شركه",
        "هيئه",
        "مجلس",
        "جامعه",
        "اتحاد",
        "بنك",
        "مصرف",
        "جبهه",
        "جيش",
        "قوات",
        "نادي",
        "صحيفه",
    ),
}
# Words naming what kind of thing follows, not part of its name; وزارة and
# الأمير stay, they belong to the name (وزارة الدفاع, الأمير محمد بن سلمان).
TYPE_WORDS = {
    "PERS": frozenset(
        (
            "الرئيس",
            "الوزير",
            "اللواء",
            "العميد",
            "العقيد",
            "الفريق",
            "الجنرال",
            "السيد",
            "الدكتور",
            "السفير",
            "النائب",
            "المستشار",
        )
    ),
    "LOC": frozenset(("مدينه", "حي", "بلده", "قريه", "محافظه", "منطقه")),
    "ORG": frozenset(("منظمه", "تنظيم", "حركه", "جماعه")),
}
# Words for kinds of places: a listed place named after one of them is that place
# (حي الشيخ سعيد), also through a list (أحياء سيف الدولة والمشهد وصلاح الدين).
PLACE_WORDS = frozenset(
    ("حي", "احياء", "مدينه", "مدن", "بلده", "بلدات", "قريه", "قري", "منطقه", "مناطق")
    + ("محافظه", "ضاحيه", "مخيم", "ريف")
)
# Words for a work or a publication whose title follows in quotation marks (فيلم «حلم»,
# صحيفة «السفير»): the quoted title is a name of that type, however common its words.
TITLE_WORDS = {
    "MISC": frozenset(
        ("فيلم", "روايه", "كتاب", "مسرحيه", "مسلسل", "برنامج", "اغنيه", "قصيده", "ديوان")
        + ("البوم", "بعنوان")
    ),
    "ORG": frozenset(("صحيفه", "جريده", "مجله", "قناه", "وكاله")),
}
TITLE_TYPE = {word: kind for kind, words in TITLE_WORDS.items() for word in words}
QUOTE_MARKS = frozenset(('"', "'", "«", "»", "\u201c", "\u201d"))
# A title is a few words; a longer quotation after فيلم is what the film says.
MAX_TITLE_WORDS = 5
LIST_JOINERS = frozenset(("و", "،", ","))
# How far back through a list of places a place word still speaks for its members.
PLACE_LIST_REACH = 12
# Endings of nationality adjectives (السوري, السورية, الروسيه after folding).
NISBA_ENDINGS = ("ي", "يه")
TRIGGER_TYPE = {word: kind for kind, words in TRIGGERS.items() for word in words}


def to_bioes(tags: Sequence[str]) -> list[str]:
    """IOB2 tags written as BIOES: a name's last word E-, a one-word name S-.

    A model that learns where names end, not only where they start, sees the
    word after a name as evidence too; `as_iob2` reads its tags back.
    """
    written = []
    for i, tag in enumerate(tags):
        ends = i + 1 == len(tags) or tags[i + 1] != "I-" + tag[2:]
        if tag == "O" or not ends:
            written.append(tag)
        else:
            written.append(("S-" if tag.startswith("B-") else "E-") + tag[2:])
    return written


def as_iob2(label: str) -> str:
    """A model's tag in IOB2: BIOES's S- opens a name (B-), its E- continues one (I-)."""
    if label.startswith("S-"):
        return "B-" + label[2:]
    if label.startswith("E-"):
        return "I-" + label[2:]
    return label


def tokenize(text: str) -> Iterator[tuple[str, int, int]]:
    """Tokens of `text` with their character offsets."""
    for match in TOKEN_RE.finditer(text):
        yield match.group(), match.start(), match.end()


class KeyedToken(NamedTuple):
    """A token, its word key and its offsets."""

    text: str
    key: str
    start: int
    end: int


# The extractors each walk the same article: its tokens are made once.
@lru_cache(maxsize=4)
def keyed_tokens(text: str) -> tuple[KeyedToken, ...]:
    """The tokens of `text` with their word keys (cached for the last few texts)."""
    return tuple(KeyedToken(t, word_key(t), s, e) for t, s, e in tokenize(text))


@lru_cache(maxsize=WORD_KEY_CACHE)
def word_key(token: str) -> str:
    """The matching form of one token: the search form, tatweel removed."""
    return search_form(token).replace("\u0640", "")


@lru_cache(maxsize=WORD_KEY_CACHE)
def split_proclitic(key: str) -> tuple[str, str]:
    """(proclitic, stem) of a word key; ("", key) when nothing sensible comes off."""
    for clitic in PROCLITICS:
        if key.startswith(clitic) and len(key) - len(clitic) >= MIN_STEM:
            stem = key[len(clitic) :]
            # لل is ل + ال with the alef dropped: give the stem its article back.
            return clitic, ("ال" + stem if clitic.endswith("لل") else stem)
    return "", key


@dataclass(frozen=True)
class Lexicon:
    """The knowledge the tagger's features draw on: word clusters and gazetteers."""

    clusters: dict[str, tuple[str, ...]]
    gazetteer: dict[tuple[str, ...], frozenset[str]]
    definiteness: dict[str, int]
    # Per word key, the percentage of its news occurrences tagged a proper noun.
    proper_nouns: dict[str, int]
    # The places of the curated list: hand-checked, unlike the larger gazetteers.
    curated_places: frozenset[tuple[str, ...]]
    # Per word key, the tag the tagger gave it most in unlabelled news (B-PERS, I-ORG ...).
    auto: dict[str, str]
    # Per word key, the role it plays in people's names ("given", "surname").
    person_parts: dict[str, str]
    # Every listed name's first words, short of the whole name: where matching goes on.
    prefixes: frozenset[tuple[str, ...]]

    @cached_property
    def _firsts(self) -> dict[str, tuple[str, ...]]:
        return {}

    def _first_words(self, key: str) -> tuple[str, ...]:
        """The forms a listed name can start with at this word, cached: the word as it
        stands, then without its proclitic (with the article, when it had none)."""
        firsts = self._firsts
        found = firsts.get(key)
        if found is None:
            if len(firsts) >= WORD_KEY_CACHE:
                firsts.clear()  # a bound on memory; news vocabulary refills it quickly
            found = firsts[key] = self._start_forms(key)
        return found

    def _start_forms(self, key: str) -> tuple[str, ...]:
        return tuple(
            form
            for form in _clitic_forms(key)
            if (form,) in self.gazetteer or (form,) in self.prefixes
        )

    def matches(self, keys: Sequence[str]) -> list[tuple[int, int, frozenset[str]]]:
        """(start, end, types) of every listed name among the word keys, in order of start.

        From each word, names are followed word by word while some listed name
        starts with the words so far; most words start none, and are passed over.
        At each length the word as it stands wins over its forms without a proclitic.
        """
        found = []
        gazetteer, prefixes = self.gazetteer, self.prefixes
        firsts = self._firsts
        for start, key in enumerate(keys):
            starts = firsts.get(key)
            if starts is None:
                starts = self._first_words(key)
            if not starts:  # most words
                continue
            live, end = list(starts), start + 1
            while live:
                rest = tuple(keys[start + 1 : end])
                kinds = None
                going_on = []
                for first in live:
                    window = (first, *rest)
                    if kinds is None:
                        kinds = gazetteer.get(window)
                    if window in prefixes:
                        going_on.append(first)
                if kinds:
                    found.append((start, end, kinds))
                end += 1
                live = going_on if end <= len(keys) else []
        return found

    def gazetteer_tags(
        self, keys: Sequence[str], matches: list[tuple[int, int, frozenset[str]]] | None = None
    ) -> dict[int, list[str]]:
        """By token position, B-/I- gazetteer tags of every listed name covering it (if any)."""
        tags: dict[int, list[str]] = {}
        for start, end, kinds in self.matches(keys) if matches is None else matches:
            # In a fixed order: a frozenset's order changes with the process's string
            # hashing, and the model's features and file would change with it.
            for kind in sorted(kinds):
                tags.setdefault(start, []).append(f"B-{kind}")
                for inside in range(start + 1, end):
                    tags.setdefault(inside, []).append(f"I-{kind}")
        return tags

    def is_curated_place(self, keys: Sequence[str]) -> bool:
        """Whether the words name a place of the curated list, a proclitic on the first allowed."""
        rest = tuple(keys[1:])
        return any((first, *rest) in self.curated_places for first in _clitic_forms(keys[0]))


def _clitic_forms(key: str) -> tuple[str, ...]:
    """The forms a listed name's first word may take here: the word as it stands, then
    without its proclitic, and with the article when that left none (بحلب: حلب, الحلب)."""
    _clitic, stem = split_proclitic(key)
    if stem == key:
        return (key,)
    if stem.startswith(ARTICLE):
        return key, stem
    return key, stem, ARTICLE + stem


def _resource_text(name: str) -> str:
    path = resources.files("processors") / "resources" / name
    data = path.read_bytes()
    return (gzip.decompress(data) if name.endswith(".gz") else data).decode("utf-8")


# The auto-lexicon read instead of the shipped one (None: the shipped one; "off": none):
# training builds its own, one per fold and part.
_auto_lexicon_choice: list[Path | str | None] = [None]
NO_AUTO_LEXICON = "off"


def use_auto_lexicon(path: Path | str | None) -> None:
    """Read the auto-lexicon from `path` from now on (None: the shipped one, if any;
    NO_AUTO_LEXICON: none at all).

    Called by training scripts before any feature is made; the cached lexicon and
    token features are dropped so that none made with the old list survives.
    """
    _auto_lexicon_choice[0] = path
    load_lexicon.cache_clear()
    token_features.cache_clear()


def load_auto_lexicon() -> dict[str, str]:
    """word key -> tag, from the chosen file; empty when the shipped one is absent."""
    path = _auto_lexicon_choice[0]
    if path == NO_AUTO_LEXICON:
        return {}
    if isinstance(path, Path):
        text = gzip.decompress(path.read_bytes()).decode("utf-8")
    elif (resources.files("processors") / "resources" / AUTO_LEXICON_FILE).is_file():
        text = _resource_text(AUTO_LEXICON_FILE)
    else:
        return {}
    auto = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            word, tag, *_counts = line.split("\t")
            auto[word] = tag
    return auto


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """The shipped clusters and gazetteers (read once per process)."""
    clusters = {}
    for line in _resource_text(CLUSTERS_FILE).splitlines():
        word, *ids = line.split("\t")
        clusters[word] = tuple(ids)
    entries: dict[tuple[str, ...], set[str]] = {}
    for kind, name in ANERGAZET_FILES.items():
        for line in _resource_text(name).splitlines():
            _add_entry(entries, kind, line)
    curated: dict[tuple[str, ...], set[str]] = {}
    for line in _resource_text(CURATED_GAZETTEER).splitlines():
        if line and not line.startswith("#"):
            kind, _, name = line.partition("\t")
            _add_entry(entries, kind, name)
            _add_entry(curated, kind, name)
    for line in _resource_text(CLDR_GAZETTEER).splitlines():
        if line and not line.startswith("#"):
            kind, _, name = line.partition("\t")
            _add_entry(entries, kind, name)
    person_parts = _read_person_names(entries)
    places = frozenset(name for name, kinds in curated.items() if "LOC" in kinds)
    definiteness = _read_shares(DEFINITENESS_FILE)
    gazetteer = _shared_kinds(entries)
    proper_nouns = _read_shares(PROPER_NOUN_FILE)
    prefixes = frozenset(name[:size] for name in gazetteer for size in range(1, len(name)))
    return Lexicon(
        clusters,
        gazetteer,
        definiteness,
        proper_nouns,
        places,
        load_auto_lexicon(),
        person_parts,
        prefixes,
    )


def _read_person_names(entries: dict[tuple[str, ...], set[str]]) -> dict[str, str]:
    """Adds the people's full names to `entries`; returns the name parts' roles by word key."""
    parts = {}
    for line in _resource_text(PERSON_GAZETTEER).splitlines():
        if line and not line.startswith("#"):
            kind, _, name = line.partition("\t")
            if kind == PERSON_NAME_KIND:
                _add_entry(entries, kind, name)
            else:
                parts[word_key(name)] = PERSON_PART_ROLES[kind]
    return parts


def _shared_kinds(
    entries: dict[tuple[str, ...], set[str]],
) -> dict[tuple[str, ...], frozenset[str]]:
    """The gazetteer with one frozenset per distinct set of kinds: a hundred thousand
    names share a handful of them, and a set each would cost tens of MB."""
    distinct: dict[frozenset[str], frozenset[str]] = {}
    return {
        name: distinct.setdefault(frozenset(kinds), frozenset(kinds))
        for name, kinds in entries.items()
    }


def _read_shares(name: str) -> dict[str, int]:
    """A resource of `word<TAB>percent` lines."""
    shares = {}
    for line in _resource_text(name).splitlines():
        word, _, share = line.partition("\t")
        shares[word] = int(share)
    return shares


def _add_entry(entries: dict[tuple[str, ...], set[str]], kind: str, name: str) -> None:
    keys = tuple(word_key(token) for token, _s, _e in tokenize(name))
    if keys and len(keys) <= MAX_GAZETTEER_TOKENS and any(len(k) > 1 for k in keys):
        for variant in _spelling_variants(keys):
            entries.setdefault(variant, set()).add(kind)


def _spelling_variants(keys: tuple[str, ...]) -> set[tuple[str, ...]]:
    """The name's words as listed, and with each letter of a SPELLING_PAIRS pair swapped."""
    variants = {keys}
    for one, other in SPELLING_PAIRS:
        for source, target in ((one, other), (other, one)):
            variants |= {tuple(k.replace(source, target) for k in v) for v in variants}
    return variants


def _word_features(key: str, shape: str) -> tuple[str, ...]:
    """Features of one word on its own (looked up once per form, see `token_features`)."""
    lexicon = load_lexicon()
    clitic, stem = split_proclitic(key)
    features = [
        f"w={key}",
        f"shape={shape}",
        f"p2={key[:2]}",
        f"p3={key[:3]}",
        f"s2={key[-2:]}",
        f"s3={key[-3:]}",
        f"len={min(len(key), 8)}",
    ]
    if clitic:
        features += [f"clitic={clitic}", f"stem={stem}", f"stem_s2={stem[-2:]}"]
    for level, cluster in enumerate(lexicon.clusters.get(key, ())):
        features.append(f"c{level}={cluster}")
    if clitic:
        for level, cluster in enumerate(lexicon.clusters.get(stem, ())):
            features.append(f"sc{level}={cluster}")
    trigger = TRIGGER_TYPE.get(key) or TRIGGER_TYPE.get(stem)
    if trigger:
        features.append(f"trigger={trigger}")
    # The word as it stands first (لافروف is no ل + افروف), then without its proclitic.
    auto = lexicon.auto.get(key) or (lexicon.auto.get(stem) if clitic else None)
    if auto:
        features.append(f"auto={auto}")
    if key not in lexicon.clusters and (not clitic or stem not in lexicon.clusters):
        features.append("unclustered")
    features.append(_definiteness(key, lexicon))
    proper_noun = _proper_noun_share(key, stem if clitic else "", lexicon)
    features.append(proper_noun)
    role = lexicon.person_parts.get(key) or (lexicon.person_parts.get(stem) if clitic else None)
    # Wikidata's labels make given names of words such as كان and بين: a word the news
    # never has as a proper noun is no name part here.
    if role and proper_noun != PROPER_NOUN_NEVER:
        features.append(f"name_part={role}")
    return tuple(features)


def _definiteness(key: str, lexicon: Lexicon) -> str:
    """How often the word takes the article in the news, and whether it has it here.

    The word without its proclitic is looked up first (بحلب as حلب), then as it
    stands, for names that merely start like a clitic (لافروف).
    """
    clitic, stem = split_proclitic(key)
    has_article, share = clitic.endswith(ARTICLE) or stem.startswith(ARTICLE), None
    if clitic:
        share = lexicon.definiteness.get(_without_article(stem))
    if share is None:
        has_article = key.startswith(ARTICLE)
        share = lexicon.definiteness.get(_without_article(key))
    here = "al" if has_article else "bare"
    if share is None:
        return f"def={here}:unknown"
    return f"def={here}:{_band(share, DEFINITENESS_BANDS)}"


def _proper_noun_share(key: str, stem: str, lexicon: Lexicon) -> str:
    """How often the news has the word as a proper noun: the word as it stands
    first, then, if the news has it too seldom, without its proclitic (بحلب as حلب)."""
    share = lexicon.proper_nouns.get(key)
    if share is None and stem:
        share = lexicon.proper_nouns.get(stem)
    if share is None:
        return "propn=unknown"
    return "propn=" + _band(share, PROPER_NOUN_BANDS)


def _band(share: int, bands: tuple[tuple[int, str], ...]) -> str:
    """The name of the first band whose upper limit (exclusive) is above the share."""
    return next(name for limit, name in bands if share < limit)


def _without_article(key: str) -> str:
    return key[len(ARTICLE) :] if key.startswith(ARTICLE) else key


def _shape(token: str) -> str:
    if token.isdigit() or token[0].isdigit():
        return "digit"
    if token.isascii() and token.isalpha():
        return "latin"
    if token.isalpha():
        return "arabic"
    return "punct" if len(token) == 1 else "other"


# Features copied from neighbours: the ones that say most about the current word.
NEIGHBOUR_PREFIXES = (
    "w=",
    "c1=",
    "c2=",
    "stem=",
    "trigger=",
    "shape=",
    "clitic=",
    "auto=",
    "name_part=",
)
WINDOW = 2
OFFSETS = tuple(offset for offset in range(-WINDOW, WINDOW + 1) if offset)
# Words that join a person's name to the father's (محمد بن سلمان).
NAME_LINKS = frozenset(("بن", "ابن", "بنت"))


class FormWords(NamedTuple):
    """What the per-position features need to know of a token form: its key, stem, trigger."""

    key: str
    stem: str
    # The type of name this word announces (وزير: PERS), or "".
    trigger: str


class TokenFeatures(NamedTuple):
    """What one token form contributes, looked up once per form.

    `own` are its features at its own position; `seen_from[slot]` are the features
    it gives a word that sees it at OFFSETS[slot] (that word's neighbour features).
    """

    key: str
    stem: str
    own: tuple[str, ...]
    seen_from: tuple[tuple[str, ...], ...]
    # The type of name this word announces (وزير: PERS), or "".
    trigger: str


def form_features(token: str) -> tuple[FormWords, tuple[str, ...], list[str]]:
    """A token form's words, its own features, and those of them its neighbours see (not cached)."""
    key, shape = word_key(token), _shape(token)
    own = _word_features(key, shape)
    shared = [f for f in own if f.startswith(NEIGHBOUR_PREFIXES)]
    stem = split_proclitic(key)[1]
    trigger = TRIGGER_TYPE.get(key) or TRIGGER_TYPE.get(stem) or ""
    return FormWords(key, stem, trigger), ("bias", *own), shared


def describe_token(token: str) -> TokenFeatures:
    """The features of one token form that do not depend on its neighbours, as strings."""
    words, own, shared = form_features(token)
    seen_from = tuple(tuple(window_feature(offset, f) for f in shared) for offset in OFFSETS)
    return TokenFeatures(words.key, words.stem, own, seen_from, words.trigger)


def window_feature(offset: int, feature: str) -> str:
    """The feature a word gets from a neighbour at `offset` that has `feature` itself."""
    return f"{offset}:{feature}"


def window_parts(name: str) -> tuple[int, str] | None:
    """(offset, feature) of a name `window_feature` made, None for any other name."""
    offset, colon, feature = name.partition(":")
    if colon and offset.lstrip("-").isdigit() and int(offset) in OFFSETS:
        return int(offset), feature
    return None


# What the per-position features read of a form: its key, stem and trigger.
Form = FormWords | TokenFeatures
# Training and the reference check look forms up here; the tagger keeps its own bounded table.
token_features = lru_cache(maxsize=WORD_KEY_CACHE)(describe_token)


NO_EVIDENCE: frozenset[str] = frozenset()


def _occurrence_evidence(
    looked_up: Sequence[Form], matches: Sequence[tuple[int, int, frozenset[str]]]
) -> list[frozenset[str]]:
    """Per token, what this occurrence says about the type of name it is."""
    found: dict[int, set[str]] = {}
    for start, end, kinds in matches:
        for i in range(start, end):
            found.setdefault(i, set()).update(f"gaz={kind}" for kind in kinds)
    for i in range(1, len(looked_up)):
        if looked_up[i - 1].trigger:
            found.setdefault(i, set()).add(f"after={looked_up[i - 1].trigger}")
        if looked_up[i].key in NAME_LINKS:
            found.setdefault(i - 1, set()).add("before_link")
    evidence = [NO_EVIDENCE] * len(looked_up)
    for i, items in found.items():
        evidence[i] = frozenset(items)
    return evidence


class _Sentence(NamedTuple):
    looked_up: Sequence[Form]
    matches: list[tuple[int, int, frozenset[str]]]
    gazetteer: dict[int, list[str]]
    evidence: list[frozenset[str]]


NOTHING_ELSEWHERE: tuple[str, ...] = ()
SEEN_ELSEWHERE = ("seen",)
NO_COUNTS: dict[str, int] = {}


class _Document:
    """The evidence of every occurrence of every word form in one document.

    `elsewhere[n][i]` are the document items of token i of sentence n: the
    evidence the other occurrences of the same word give (named by `document_names`).
    """

    def __init__(self, sentences: Sequence[_Sentence]) -> None:
        forms = [form for sentence in sentences for form in sentence.looked_up]
        keys = [form.key for form in forms]
        stems = [form.stem for form in forms]
        evidence = [items for sentence in sentences for items in sentence.evidence]
        # An occurrence counts once for its key and once for its stem when that differs.
        self._seen = Counter(keys)
        self._seen.update([stem for key, stem in zip(keys, stems, strict=True) if stem != key])
        self._evidence: dict[str, dict[str, int]] = {}
        for i in [i for i, items in enumerate(evidence) if items]:
            # Sorted, not in the sets' order, which changes with the process's string
            # hashing: the items' order is the order of the features they make.
            for form in dict.fromkeys((keys[i], stems[i])):
                counts = self._evidence.setdefault(form, {})
                for item in sorted(evidence[i]):
                    counts[item] = counts.get(item, 0) + 1
        self._known: dict[tuple[str, str, frozenset[str]], tuple[str, ...]] = {}
        self._plain: dict[str, tuple[str, ...]] = {}
        seen = self._seen
        found = [
            NOTHING_ELSEWHERE  # the only occurrence: most words of an article
            if seen[key] == 1 and seen[stem] == 1
            else self._elsewhere(key, stem, items)
            for key, stem, items in zip(keys, stems, evidence, strict=True)
        ]
        ends = accumulate(len(sentence.looked_up) for sentence in sentences)
        self.elsewhere = [
            found[end - len(sentence.looked_up) : end]
            for sentence, end in zip(sentences, ends, strict=True)
        ]

    def _elsewhere(self, key: str, stem: str, own: frozenset[str]) -> tuple[str, ...]:
        """What the other occurrences of a repeated word say, once per kind of occurrence."""
        if not own:  # most occurrences: the stem follows from the key
            known = self._plain.get(key)
            if known is None:
                known = self._plain[key] = self._count_elsewhere(key, stem, own)
            return known
        known = self._known.get((key, stem, own))
        if known is None:
            known = self._known[key, stem, own] = self._count_elsewhere(key, stem, own)
        return known

    def _count_elsewhere(self, key: str, stem: str, own: frozenset[str]) -> tuple[str, ...]:
        forms = (key,) if stem == key else (key, stem)
        # Each form's counts include this occurrence once.
        seen_here = len(forms)
        counts = {"seen": self._seen[key] + (self._seen[stem] if stem != key else 0)}
        for form in forms:
            for item, count in self._evidence.get(form, NO_COUNTS).items():
                counts[item] = counts.get(item, 0) + count
        if len(counts) == 1:  # repeated, and no other occurrence has evidence: most cases
            return SEEN_ELSEWHERE if counts["seen"] > seen_here else NOTHING_ELSEWHERE
        mine = {"seen", *own}
        return tuple(
            [item for item, count in counts.items() if count > (seen_here if item in mine else 0)]
        )


# Features that depend on a token's place in its sentence or document. Each kind
# finds where it fires in a sentence and what fires there, and names a `what` as
# feature strings; training joins the names, the tagger looks a `what` up once and
# caches its weights. A position's features come in the order of DYNAMIC_KINDS,
# then the order found.
class Found(NamedTuple):
    """Where a kind of feature fires in a sentence, and what fires at each of those places."""

    positions: Sequence[int]
    whats: Sequence[Hashable]


def _edges(sentence: _Sentence, _elsewhere: Sequence[tuple[str, ...]]) -> Found:
    """The first and last tokens see past the sentence's ends."""
    return _edges_of_size(len(sentence.looked_up))


# Sentence lengths seen in news: a few hundred at most.
@lru_cache(maxsize=1024)
def _edges_of_size(size: int) -> Found:
    near_an_end = tuple(sorted({*range(min(WINDOW, size)), *range(max(size - WINDOW, 0), size)}))
    return Found(
        near_an_end, tuple(tuple(o for o in OFFSETS if not 0 <= i + o < size) for i in near_an_end)
    )


def edge_names(outside: tuple[int, ...]) -> tuple[str, ...]:
    return tuple(f"{offset}:edge" for offset in outside)


def _gazetteer_windows(sentence: _Sentence, _elsewhere: Sequence[tuple[str, ...]]) -> Found:
    """Gazetteer tags of a token (offset 0) and of the tokens in its window."""
    size = len(sentence.looked_up)
    positions: list[int] = []
    whats: list[Hashable] = []
    for j, tags in sorted(sentence.gazetteer.items()):
        listed = tuple(tags)
        positions.append(j)
        whats.append((0, listed))
        for offset in OFFSETS:
            # Token i sees token j at i + offset.
            if 0 <= j - offset < size:
                positions.append(j - offset)
                whats.append((offset, listed))
    return Found(positions, whats)


def gazetteer_names(seen: tuple[int, tuple[str, ...]]) -> tuple[str, ...]:
    offset, tags = seen
    if offset == 0:
        return tuple(f"g={tag}" for tag in tags)
    return tuple(window_feature(offset, f"g={tag}") for tag in tags)


def _bigrams(sentence: _Sentence, _elsewhere: Sequence[tuple[str, ...]]) -> Found:
    keys = [features.key for features in sentence.looked_up]
    return Found(range(1, len(keys)), list(zip(keys, keys[1:], strict=False)))


BIGRAM = "bigram="


def bigram_names(pair: tuple[str, str]) -> tuple[str, ...]:
    return (f"{BIGRAM}{pair[0]}|{pair[1]}",)


def bigram_pairs(name: str) -> list[tuple[str, str]]:
    """The pairs whose bigram feature is `name`: split at each "|", a key may be one."""
    if not name.startswith(BIGRAM):
        return []
    pair = name[len(BIGRAM) :]
    return [(pair[:at], pair[at + 1 :]) for at, char in enumerate(pair) if char == "|"]


def _elsewhere_in_document(sentence: _Sentence, elsewhere: Sequence[tuple[str, ...]]) -> Found:
    positions = [i for i, items in enumerate(elsewhere) if items]
    return Found(positions, [elsewhere[i] for i in positions])


def document_names(items: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"d:{item}" for item in items)


class DynamicKind(NamedTuple):
    """One kind of per-position feature: where it fires, and the names of what fires.

    A kind with more `what`s than a cache holds (bigrams) gives `parse`: every
    `what` whose names include a feature name. The tagger then indexes the
    model's own features of that kind once, and a `what` not in it has no weight.
    """

    find: Callable[[_Sentence, Sequence[tuple[str, ...]]], Found]
    names: Callable[[Any], tuple[str, ...]]
    parse: Callable[[str], Iterable[Hashable]] | None = None


DYNAMIC_KINDS = (
    DynamicKind(_edges, edge_names),
    DynamicKind(_gazetteer_windows, gazetteer_names),
    DynamicKind(_bigrams, bigram_names, bigram_pairs),
    DynamicKind(_elsewhere_in_document, document_names),
)


def _dynamic_features(sentence: _Sentence, elsewhere: Sequence[tuple[str, ...]]) -> list[list[str]]:
    """Per token, the features that depend on its neighbours or its document, named."""
    rows: list[list[str]] = [[] for _ in sentence.looked_up]
    for kind in DYNAMIC_KINDS:
        found = kind.find(sentence, elsewhere)
        for i, what in zip(found.positions, found.whats, strict=True):
            rows[i] += kind.names(what)
    return rows


def _prepare(sentences: Sequence[Sequence[Form]]) -> list[_Sentence]:
    """Each sentence's forms with its listed names and the evidence of each occurrence."""
    lexicon = load_lexicon()
    prepared = []
    for looked_up in sentences:
        keys = [features.key for features in looked_up]
        matches = lexicon.matches(keys)
        gazetteer = lexicon.gazetteer_tags(keys, matches)
        evidence = _occurrence_evidence(looked_up, matches)
        prepared.append(_Sentence(looked_up, matches, gazetteer, evidence))
    return prepared


class SentenceParts(NamedTuple):
    """One sentence's tokens, their per-form and per-position features, its listed names."""

    tokens: Sequence[str]
    looked_up: list[TokenFeatures]
    dynamic: list[list[str]]
    matches: list[tuple[int, int, frozenset[str]]]


def document_parts(sentences: Sequence[Sequence[str]]) -> list[SentenceParts]:
    """Each sentence's tokens with their features as strings: training's and crfsuite's view."""
    looked_up = [[token_features(token) for token in tokens] for tokens in sentences]
    prepared = _prepare(looked_up)
    elsewhere = _Document(prepared).elsewhere
    return [
        SentenceParts(tokens, features, _dynamic_features(sentence, found), sentence.matches)
        for tokens, features, sentence, found in zip(
            sentences, looked_up, prepared, elsewhere, strict=True
        )
    ]


def document_features(sentences: Sequence[Sequence[str]]) -> list[list[list[str]]]:
    """CRF features for each token of each sentence of one document (training's view)."""
    document = []
    for _tokens, looked_up, dynamic, _matches in document_parts(sentences):
        rows = []
        for i, features in enumerate(looked_up):
            row = [*features.own, *dynamic[i]]
            for slot, offset in enumerate(OFFSETS):
                j = i + offset
                if 0 <= j < len(looked_up):
                    row += looked_up[j].seen_from[slot]
            rows.append(row)
        document.append(rows)
    return document


def sentence_features(tokens: Sequence[str]) -> list[list[str]]:
    """CRF features for each token of a sentence that is a document on its own."""
    return document_features([tokens])[0]


@dataclass(frozen=True)
class Entity:
    """One named-entity mention: offsets into the display text and its canonical name."""

    text: str
    type: str
    start: int
    end: int
    canonical: str


class EntityTagger:
    """Tags entities in display text with the shipped CRF model.

    Built once per process: the model's weights are read into arrays, and each
    token form's share of the scores (its own and what it gives its neighbours)
    and each per-position feature's weights are cached in bounded tables, so
    tagging is a few table look-ups, array sums and a Viterbi pass per document.
    A missing or unreadable model file raises OSError at construction, so a
    stage fails at start-up rather than on its first article.
    """

    def __init__(self, model_path: str | None = None) -> None:
        self._tagger = pycrfsuite.Tagger()
        if model_path is None:
            with resources.as_file(resources.files("processors") / "resources" / MODEL_FILE) as p:
                self._tagger.open(str(p))
                model = p.read_bytes()
        else:
            self._tagger.open(model_path)
            model = Path(model_path).read_bytes()
        self._chain = LinearChain.from_model(self._tagger, model)

    def tag_tokens(self, tokens: Sequence[str]) -> list[str]:
        """IOB2 tags for one sentence of tokens, the sentence being its own document."""
        return self.tag_document([tokens])[0]

    def tag_document(
        self, sentences: Sequence[Sequence[str]], place_rule: bool = True
    ) -> list[list[str]]:
        """IOB2 tags for each sentence of one document (without the place rule and the
        repeated names: the model's)."""
        prepared, tagged = self._chain.tag(sentences)
        if not place_rule:
            return tagged
        keys = [[form.key for form in sentence.looked_up] for sentence in prepared]
        # A sentence without a listed name has nothing the place rule could change.
        placed = [
            places_in_context(words, sentence.matches, tags) if sentence.matches else tags
            for words, sentence, tags in zip(keys, prepared, tagged, strict=True)
        ]
        completed = [
            without_non_names(tokens, titles_in_quotes(words, complete_names(tokens, tags)))
            for tokens, words, tags in zip(sentences, keys, placed, strict=True)
        ]
        return repeated_names(sentences, consistent_types(sentences, completed))

    def reference_tags(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """The same tags computed by crfsuite itself: the check on `tag_document`."""
        return [
            [as_iob2(label) for label in self._tagger.tag(rows)] if rows else []
            for rows in document_features(sentences)
        ]

    def entities(
        self,
        text: str,
        sentences: Sequence[tuple[int, int]] | None = None,
        token_spans: Sequence[tuple[int, int]] | None = None,
    ) -> list[Entity]:
        """Entities of `text`, tagged sentence by sentence, with canonical names.

        `token_spans` are the (start, end) of every TOKEN_RE match in the whole
        text when already made (the enrich step's `Tokens`): each sentence's
        tokens are then taken from them instead of matched again.
        """
        spans = sentences or [(0, len(text))]
        offsets = sentence_token_spans(text, spans, token_spans)
        tags = self.tag_document([[text[a:b] for a, b in tokens] for tokens in offsets])
        found: list[Entity] = []
        for tokens, sentence_tags in zip(offsets, tags, strict=True):
            if sentence_tags.count("O") == len(sentence_tags):
                continue  # most sentences
            for first, last, kind in _tag_spans(sentence_tags):
                found.append(_entity(text, tokens[first][0], tokens[last - 1][1], kind))
        return merge_mentions(found)


def sentence_token_spans(
    text: str,
    sentences: Sequence[tuple[int, int]],
    token_spans: Sequence[tuple[int, int]] | None = None,
) -> list[list[tuple[int, int]]]:
    """Per sentence, the offsets of the tokens TOKEN_RE matches within it.

    Cut from `token_spans`, the whole text's (matched here when not given): a
    sentence no token of the whole text straddles has exactly those tokens (the
    pattern has no look-around, so a match that ends inside the sentence is
    found the same way within it). A sentence whose edge cuts a token is
    matched on its own.
    """
    if token_spans is None:
        token_spans = _matched_spans(text, 0, len(text))
    starts = [start for start, _end in token_spans]
    found = []
    for start, end in sentences:
        first, stop = bisect_left(starts, start), bisect_left(starts, end)
        straddled = (first and token_spans[first - 1][1] > start) or (
            stop > first and token_spans[stop - 1][1] > end
        )
        found.append(
            _matched_spans(text, start, end) if straddled else list(token_spans[first:stop])
        )
    return found


def _matched_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return list(map(re.Match.span, TOKEN_RE.finditer(text, start, end)))


# Token forms whose scores the tagger keeps: a few days of news vocabulary. Each
# takes 5 x 9 float64 scores (360 bytes) plus its key, stem and index entry.
FORM_TABLE_SIZE = 100_000
# Per-position features whose weight rows the tagger keeps, per kind (emptied between
# documents once reached): the kinds cached (edges, gazetteer windows, document
# evidence) have a few hundred at most.
DYNAMIC_CACHE = 10_000
NO_ROWS: tuple[int, ...] = ()


class FormTable:
    """Per token form: its FormWords and its score rows, in one table of bounded size.

    Row 0 of a form's scores is its own, row 1 + slot what it gives a word that
    sees it at OFFSETS[slot]. When a document brings more new forms than there
    is room for, the table is emptied first: news vocabulary refills it quickly.
    """

    def __init__(
        self, score: Callable[[list[str]], tuple[list[FormWords], np.ndarray]], labels: int
    ) -> None:
        self._score = score
        self._index: dict[str, int] = {}
        self.words: list[FormWords] = []
        self.scores = np.zeros((FORM_TABLE_SIZE, 1 + len(OFFSETS), labels))

    def __len__(self) -> int:
        return len(self._index)

    def rows(self, tokens: Sequence[str]) -> list[int]:
        """The table rows of `tokens`, adding the forms not yet in it."""
        rows = list(map(self._index.get, tokens))
        if None not in rows:
            return rows  # type: ignore[return-value]
        new = dict.fromkeys(t for t, row in zip(tokens, rows, strict=True) if row is None)
        if len(self._index) + len(new) > len(self.scores):
            self._clear(len(set(tokens)))
            new = dict.fromkeys(tokens)
        self._add(list(new))
        return [self._index[token] for token in tokens]

    def _add(self, tokens: list[str]) -> None:
        words, scores = self._score(tokens)
        first = len(self.words)
        self._index.update(zip(tokens, range(first, first + len(tokens)), strict=True))
        self.words += words
        self.scores[first : first + len(tokens)] = scores

    def _clear(self, needed: int) -> None:
        self._index.clear()
        self.words.clear()
        if needed > len(self.scores):  # one document larger than the table: make room
            self.scores = np.zeros((needed, *self.scores.shape[1:]))


class WeightRows(dict[Hashable, tuple[int, ...]]):
    """Per `what` of one kind of per-position feature, the model's weight rows of its names.

    A `what` not yet in it is looked up in the model when first read, so a read
    costs one dict access, met before or not. Filled by the tagger as documents come.
    """

    def __init__(self, rows_of: Callable[[Hashable], tuple[int, ...]]) -> None:
        super().__init__()
        self._rows_of = rows_of

    def __missing__(self, what: Hashable) -> tuple[int, ...]:
        rows = self[what] = self._rows_of(what)
        return rows


class LinearChain:
    """A linear-chain CRF's weights as arrays, decoding exactly as crfsuite does.

    crfsuite scores a tag sequence as the sum of the weights of (feature, tag)
    pairs and of (tag, next tag) transitions, with nothing for the start or end.
    Most features depend on the token form alone, so the sum of their weights is
    kept per form in a FormTable, both at the form's own position and as seen
    from each offset of the window. The features that depend on the position
    (DYNAMIC_KINDS) are looked up once per kind and `what`, never built as
    strings again. The sums are made in crfsuite's feature order per position.
    """

    def __init__(
        self,
        labels: Sequence[str],
        attributes: dict[str, int],
        state: np.ndarray,
        transitions: np.ndarray,
    ) -> None:
        self.labels = tuple(labels)
        # What the tagger gives back: IOB2, whichever scheme the model learned.
        self.tags = tuple(map(as_iob2, labels))
        self._attributes = attributes
        self._state = state
        self._transitions = transitions
        self._window_rows = self._index_windows()
        self.forms = FormTable(self._score_forms, len(self.labels))
        # The tables change as documents come: one document at a time fills them.
        self._lock = threading.Lock()
        self.dynamic_rows = [self._index_kind(kind) for kind in DYNAMIC_KINDS]

    @classmethod
    def from_model(cls, tagger: pycrfsuite.Tagger, model: bytes) -> LinearChain:
        """The weights of an open crfsuite model, exact, from its file's feature table.

        The names of attributes and labels come from the tagger; the weights are
        read from the file, because the tagger's dump rounds them to six decimals
        and a near tie would then be broken differently from crfsuite.
        """
        info = tagger.info()
        labels = sorted(info.labels, key=lambda label: int(info.labels[label]))
        names = {int(number): name for name, number in info.attributes.items()}
        attributes: dict[str, int] = {}
        rows, columns, weights = [], [], []
        transitions = np.zeros((len(labels), len(labels)))
        for kind, source, target, weight in _model_features(model, info.header):
            if kind == CRFSUITE_TRANSITION:
                transitions[source, target] = weight
                continue
            rows.append(attributes.setdefault(names[source], len(attributes)))
            columns.append(target)
            weights.append(weight)
        state = np.zeros((len(attributes), len(labels)))
        state[rows, columns] = weights
        return cls(labels, attributes, state, transitions)

    def _index_kind(self, kind: DynamicKind) -> dict[Hashable, tuple[int, ...]]:
        """The weight rows of every `what` of a kind with `parse`; an empty cache for the rest."""
        if kind.parse is None:
            return WeightRows(lambda what: self._rows(kind.names(what)))
        return {
            what: self._rows(kind.names(what))
            for name in self._attributes
            for what in kind.parse(name)
        }

    def _rows(self, names: Iterable[str]) -> tuple[int, ...]:
        get = self._attributes.get
        return tuple(row for row in map(get, names) if row is not None) or NO_ROWS

    def _index_windows(self) -> dict[str, list[tuple[int, int]]]:
        """Per feature a neighbour may have, the (slot, row) of each window feature it makes."""
        rows: dict[str, list[tuple[int, int]]] = {}
        for name, row in self._attributes.items():
            parts = window_parts(name)
            if parts is not None:
                offset, feature = parts
                rows.setdefault(feature, []).append((OFFSETS.index(offset), row))
        for found in rows.values():
            found.sort()
        return rows

    def _score_forms(self, tokens: list[str]) -> tuple[list[FormWords], np.ndarray]:
        """Each form's words; its own score, then what it adds to a word seeing it at each offset.

        One array sum for all the forms, each score summed in its features' order.
        """
        own_row, window_rows = self._attributes.get, self._window_rows.get
        parts = 1 + len(OFFSETS)
        words, scores, weights = [], [], []
        for n, token in enumerate(tokens):
            form, own, shared = form_features(token)
            words.append(form)
            rows = [row for row in map(own_row, own) if row is not None]
            scores += [n * parts] * len(rows)
            weights += rows
            seen = [found for feature in shared for found in window_rows(feature, ())]
            scores += [n * parts + 1 + slot for slot, _row in seen]
            weights += [row for _slot, row in seen]
        summed = np.zeros((len(tokens) * parts, len(self.labels)))
        np.add.at(summed, scores, self._state[weights])
        return words, summed.reshape(len(tokens), parts, len(self.labels))

    def tag(self, sentences: Sequence[Sequence[str]]) -> tuple[list[_Sentence], list[list[str]]]:
        """The prepared sentences of one document, and the best tag sequence of each."""
        with self._lock:
            return self._tag(sentences)

    def _tag(self, sentences: Sequence[Sequence[str]]) -> tuple[list[_Sentence], list[list[str]]]:
        # One look-up for the whole document: the table may be emptied to make room.
        rows = self.forms.rows([token for tokens in sentences for token in tokens])
        lengths = [len(tokens) for tokens in sentences]
        ends = list(accumulate(lengths))
        words = self.forms.words
        forms = [words[row] for row in rows]
        prepared = _prepare(
            [forms[end - size : end] for size, end in zip(lengths, ends, strict=True)]
        )
        scores = self._form_scores(rows, lengths)
        self._add_dynamic(scores, prepared, lengths)
        emissions = [scores[end - size : end] for size, end in zip(lengths, ends, strict=True)]
        paths = iter(_viterbi([e for e in emissions if len(e)], self._transitions))
        label_of = self.tags.__getitem__
        tags = [list(map(label_of, next(paths))) if size else [] for size in lengths]
        return prepared, tags

    def _form_scores(self, rows: list[int], lengths: list[int]) -> np.ndarray:
        """Per token of the document, the summed weights of its own and its window's forms."""
        table = self.forms.scores[rows]
        scores = table[:, 0].copy()
        sentence = np.repeat(np.arange(len(lengths)), lengths)
        for slot, offset in enumerate(OFFSETS, start=1):
            # Token i sees token i + offset when both are in the same sentence; the
            # others are left as they are (`where`), not gathered and scattered back.
            if offset > 0:
                seer, seen = scores[:-offset], table[offset:, slot]
                same = sentence[:-offset] == sentence[offset:]
            else:
                seer, seen = scores[-offset:], table[:offset, slot]
                same = sentence[-offset:] == sentence[:offset]
            np.add(seer, seen, out=seer, where=same[:, None])
        return scores

    def _add_dynamic(
        self, scores: np.ndarray, prepared: Sequence[_Sentence], lengths: list[int]
    ) -> None:
        """Add the weights of each position's per-position features to `scores`, in place."""
        elsewhere = _Document(prepared).elsewhere
        for cache in self.dynamic_rows:
            # A bound on memory, kept between documents; the common ones come back at once.
            if isinstance(cache, WeightRows) and len(cache) >= DYNAMIC_CACHE:
                cache.clear()
        # A cached kind's `what` is looked up (and met the first time) in one dict access;
        # an indexed kind's `what` missing from its index has no weight.
        look_ups = [
            cache.__getitem__ if isinstance(cache, WeightRows) else cache.get
            for cache in self.dynamic_rows
        ]
        # (position, weight rows) in the order each position gets its features added.
        weighted: list[tuple[int, tuple[int, ...]]] = []
        first = 0
        for sentence, found, size in zip(prepared, elsewhere, lengths, strict=True):
            for kind, look_up in zip(DYNAMIC_KINDS, look_ups, strict=True):
                fired = kind.find(sentence, found)
                # Most `what`s have no weight (bigrams the model never kept): skip them first.
                weighted += [
                    (first + i, weights)
                    for i, weights in zip(fired.positions, map(look_up, fired.whats), strict=True)
                    if weights
                ]
            first += size
        positions = [i for i, weights in weighted for _row in weights]
        rows = [row for _i, weights in weighted for row in weights]
        if positions:
            np.add.at(scores, positions, self._state[rows])


def _model_features(model: bytes, header: dict[str, str]) -> Iterator[tuple[int, int, int, float]]:
    """(kind, source, target, weight) of every feature in a crfsuite model file.

    The table starts at the header's `off_features`: "FEAT", its size and count,
    then one little-endian (uint32 kind, uint32 source, uint32 target, float64) each.
    """
    offset = int(header["off_features"], 16)
    if model[offset : offset + 4] != b"FEAT":
        raise OSError("not a crfsuite model: no feature table where the header says")
    (count,) = struct.unpack_from("<I", model, offset + 8)
    yield from struct.iter_unpack("<IIId", model[offset + 12 : offset + 12 + 20 * count])


def _viterbi(emissions: Sequence[np.ndarray], transitions: np.ndarray) -> list[list[int]]:
    """Best label paths of several sequences at once, one array step per position.

    Shorter sequences are padded; each one's final scores are kept at its own end.
    A step costs a handful of array calls whatever the sizes, so the calls are the
    ones numpy does fastest on these small arrays: the candidates are laid out with
    the previous label last, whose argmax is cheap, and the best score is read at
    that argmax rather than reduced again with max (the same value, for a third of
    the time). The first label of the highest scores wins, as with max and argmax.
    """
    if not emissions:
        return []
    lengths = [len(e) for e in emissions]
    count, longest, labels = len(emissions), max(lengths), transitions.shape[0]
    # Position first, so that each step reads and writes whole contiguous blocks.
    padded = np.zeros((longest, count, labels))
    for n, scores in enumerate(emissions):
        padded[: len(scores), n] = scores
    ending: dict[int, list[int]] = {}
    for n, length in enumerate(lengths):
        ending.setdefault(length - 1, []).append(n)
    # Per position, the best previous label of each (sequence, label), flat.
    back = np.zeros((longest, count * labels), dtype=np.intp)
    final = np.zeros((count, labels))
    score = padded[0].copy()
    # candidates[n, label, previous] = score[n, previous] + transitions[previous, label],
    # the transitions copied out for each sequence: adding whole arrays is cheaper
    # than broadcasting them.
    into = np.ascontiguousarray(np.broadcast_to(transitions.T, (count, labels, labels)))
    candidates = np.empty((count, labels, labels))
    # Views made once: each step only calls numpy, it makes no arrays of its own; the
    # array methods, not numpy's functions, which wrap them in Python.
    widened, by_row = score[:, None, :], candidates.reshape(count * labels, labels)
    flat_candidates, flat_score = candidates.reshape(-1), score.reshape(-1)
    # Where each (sequence, label) row of the candidates starts in the flat array.
    row_starts = np.arange(count * labels) * labels
    best_previous = np.empty(count * labels, dtype=np.intp)
    if 0 in ending:
        final[ending[0]] = score[ending[0]]
    for i, came_from, emission in zip(range(1, longest), back[1:], padded[1:], strict=True):
        np.add(widened, into, out=candidates)
        by_row.argmax(axis=1, out=came_from)
        np.add(row_starts, came_from, out=best_previous)
        flat_candidates.take(best_previous, out=flat_score)
        np.add(score, emission, out=score)
        if i in ending:
            final[ending[i]] = score[ending[i]]
    # Back from each sequence's own end, all sequences a step at a time.
    best = np.zeros((longest, count), dtype=np.intp)
    last = final.argmax(axis=1)
    sequence_starts = np.arange(count) * labels
    label = last.copy()
    for i in range(longest - 1, -1, -1):
        if i in ending:
            label[ending[i]] = last[ending[i]]
        best[i] = label
        label = back[i].take(sequence_starts + label)
    return [path[:length] for path, length in zip(best.T.tolist(), lengths, strict=True)]


def places_in_context(
    keys: Sequence[str], matches: Sequence[tuple[int, int, frozenset[str]]], tags: list[str]
) -> list[str]:
    """A place of the curated list named where only a place can stand is a place.

    That is right after a word for places (حي الشيخ سعيد), or as a later member of
    a list that follows one (أحياء سيف الدولة والمشهد وصلاح الدين). The model weighs a
    name's other readings (صلاح الدين the man, الشيخ the title) against its context;
    here the context decides, and nothing else is changed.
    """
    lexicon = load_lexicon()
    covered = -1
    for start, end, kinds in sorted(matches, key=lambda m: (m[0], m[0] - m[1])):
        if "LOC" not in kinds or start < covered or tags[start] == "I-LOC":
            continue
        if all(tag.endswith("-LOC") for tag in tags[start:end]):
            continue
        if not lexicon.is_curated_place(keys[start:end]) or not _place_stands(keys, tags, start):
            continue
        tags[start:end] = ["B-LOC"] + ["I-LOC"] * (end - start - 1)
        if end < len(tags) and tags[end].startswith("I-"):
            tags[end] = "B-" + tags[end][2:]
        covered = end
    return tags


def complete_names(tokens: Sequence[str], tags: list[str]) -> list[str]:
    """A person's name the model stops on a joining word (علي بن أبي ... طالب left out)
    takes the untagged words it joins to; one followed by a regnal number takes it."""
    for _start, end, kind in _tag_spans(tags):
        if kind != "PERS":
            continue
        stop = end
        while (
            stop < len(tokens)
            and _joins(tokens, stop - 1)
            and _untagged_word(tokens[stop], tags[stop])
        ):
            stop += 1
        if stop < len(tokens) and tags[stop] == "O" and tokens[stop] in REGNAL_NUMBERS:
            stop += 1
        tags[end:stop] = ["I-PERS"] * (stop - end)
    return tags


def titles_in_quotes(keys: Sequence[str], tags: list[str]) -> list[str]:
    """A quoted title after a word for a work or a publication is a name of its type,
    unless the model tagged a word of it (فيلم «حلم» MISC, جريدة «الوفاق» ORG)."""
    for opening in [i for i, key in enumerate(keys) if key in QUOTE_MARKS and i > 0]:
        kind = _title_type(keys[opening - 1])
        if kind is None:
            continue
        closing = next(
            (
                j
                for j in range(opening + 1, min(len(keys), opening + MAX_TITLE_WORDS + 2))
                if keys[j] in QUOTE_MARKS
            ),
            None,
        )
        if closing is None or closing == opening + 1:
            continue
        if any(tag != "O" for tag in tags[opening + 1 : closing]):
            continue
        tags[opening + 1 : closing] = ["B-" + kind] + ["I-" + kind] * (closing - opening - 2)
    return tags


def without_non_names(tokens: Sequence[str], tags: list[str]) -> list[str]:
    """Names that cannot be: marks without a letter or a digit ('' or **), and a lone
    regnal number or preposition (الثاني, على). Dropped before the document's rules,
    which would spread them to each recurrence. On ANERcorp's folds 26 false names
    fewer, no right one lost (0.7876 -> 0.7892 F1)."""
    for start, end, _kind in _tag_spans(tags):
        words = tokens[start:end]
        if not _spells_something(words) or (len(words) == 1 and words[0] in NEVER_NAMES_ALONE):
            tags[start:end] = ["O"] * (end - start)
    return tags


def _may_stand_alone(word: str) -> bool:
    """Whether one word alone can be a name (what `without_non_names` keeps)."""
    return word not in NEVER_NAMES_ALONE and _spells_something((word,))


def _spells_something(words: Sequence[str]) -> bool:
    """Whether the words have a letter or a digit between them."""
    return any(char.isalnum() for word in words for char in word)


def _title_type(key: str) -> str | None:
    """The type of title a word announces (فيلم, بالفيلم, للرواية, لألبوم), if any."""
    _clitic, stem = split_proclitic(key)
    for form in (key, stem, _without_article(stem)):
        if form in TITLE_TYPE:
            return TITLE_TYPE[form]
    return None


def _joins(tokens: Sequence[str], i: int) -> bool:
    """Whether the name's word at i joins it to the next word."""
    word = tokens[i]
    return word in NAME_JOINERS or (word in AFTER_SON_OF and i > 0 and tokens[i - 1] in SON_OF)


def _untagged_word(token: str, tag: str) -> bool:
    return tag == "O" and token[:1].isalpha()


def consistent_types(sentences: Sequence[Sequence[str]], tags: list[list[str]]) -> list[list[str]]:
    """A name the model tags with two types in one document takes the type it has most
    often there (a tie changes nothing): one club is not a place in one sentence and a
    team in the next. On ANERcorp's folds 0 to +0.004 F1, none lower."""
    kinds: dict[tuple[str, ...], Counter[str]] = {}
    for tokens, sentence_tags in zip(sentences, tags, strict=True):
        for start, end, kind in _tag_spans(sentence_tags):
            kinds.setdefault(tuple(tokens[start:end]), Counter())[kind] += 1
    majority = {}
    for name, counts in kinds.items():
        if len(counts) > 1:
            (first, most), (_second, next_most) = counts.most_common(2)
            if most > next_most:
                majority[name] = first
    if not majority:
        return tags
    for tokens, sentence_tags in zip(sentences, tags, strict=True):
        for start, end, kind in list(_tag_spans(sentence_tags)):
            wanted = majority.get(tuple(tokens[start:end]), kind)
            if wanted != kind:
                sentence_tags[start:end] = [f"B-{wanted}"] + [f"I-{wanted}"] * (end - start - 1)
    return tags


def repeated_names(sentences: Sequence[Sequence[str]], tags: list[list[str]]) -> list[list[str]]:
    """A name tagged somewhere in a document is the same name where it recurs untagged.

    The model reads each sentence's context, and a name it knows in one (سيغموند
    فرويد, after a title or a first name) can look like any word in the next (فرويد
    alone, or لفرويد). Each name tagged in the document, and a person's last word,
    is tagged where it recurs among untagged words, with a conjunction or
    preposition on its first word allowed; a name tagged with two types in the
    document is left alone. Words are compared as written: their search forms
    (alef and yeh variants merged) matched more wrongly than rightly. On ANERcorp's
    folds 1-3 this added 0.006, 0.017 and 0.010 F1 (mostly PERS recall); where the
    model tags a common word as a name, the mistake spreads with it.
    """
    kinds: dict[tuple[str, ...], set[str]] = {}
    for tokens, sentence_tags in zip(sentences, tags, strict=True):
        for start, end, kind in _tag_spans(sentence_tags):
            kinds.setdefault(tuple(tokens[start:end]), set()).add(kind)
            last = tokens[end - 1]
            if kind == "PERS" and end - start > 1 and _may_stand_alone(last):
                kinds.setdefault((last,), set()).add(kind)
    names = {name: kind for name, (kind, *others) in kinds.items() if not others}
    if not names:
        return tags
    starts = _name_starts({name[0] for name in names})
    return [
        _tag_repeats(tokens, sentence_tags, names, starts)
        for tokens, sentence_tags in zip(sentences, tags, strict=True)
    ]


def _name_starts(first_words: set[str]) -> dict[str, str]:
    """Each form a name's first word can take (as is, or with a conjunction or a
    preposition on it) -> the first word."""
    starts = {
        prefix + word: word
        for word in first_words
        if len(word) >= REPEATED_NAME_MIN_CHARS
        for prefix in DETACHABLE_PREFIXES
    }
    starts.update((word, word) for word in first_words)
    return starts


def _tag_repeats(
    tokens: Sequence[str],
    tags: list[str],
    names: dict[tuple[str, ...], str],
    starts: dict[str, str],
) -> list[str]:
    """The sentence's tags with the document's names tagged where its words are untagged."""
    tagged_up_to = 0
    for i in [i for i, token in enumerate(tokens) if token in starts]:
        if i < tagged_up_to or tags[i] != "O":
            continue
        found = _longest_name(tokens, tags, i, starts[tokens[i]], names)
        if found:
            length, kind = found
            # Right after a name of its type, it is the rest of that name (سعد ... وقاص).
            joined = i > 0 and tags[i - 1][2:] == kind and starts[tokens[i]] == tokens[i]
            tags[i : i + length] = [f"{'I' if joined else 'B'}-{kind}"] + [f"I-{kind}"] * (
                length - 1
            )
            tagged_up_to = i + length
    return tags


def _longest_name(
    tokens: Sequence[str],
    tags: Sequence[str],
    start: int,
    first: str,
    names: dict[tuple[str, ...], str],
) -> tuple[int, str] | None:
    """(words, type) of the longest name of the document at `start` over untagged words."""
    for length in range(min(REPEATED_NAME_MAX_WORDS, len(tokens) - start), 0, -1):
        if any(tag != "O" for tag in tags[start + 1 : start + length]):
            continue
        kind = names.get((first, *tokens[start + 1 : start + length]))
        if kind is not None:
            return length, kind
    return None


def _place_stands(keys: Sequence[str], tags: Sequence[str], start: int) -> bool:
    """Whether a word for places comes right before `start`, or a list of places that one opens."""
    if start == 0:
        return False
    if _is_place_word(keys[start - 1]):
        return True
    # A later member of a list: joined by و or a comma to the places before it.
    if not (keys[start].startswith("و") or keys[start - 1] in LIST_JOINERS):
        return False
    for j in range(start - 1, max(start - 1 - PLACE_LIST_REACH, -1), -1):
        if _is_place_word(keys[j]):
            return True
        if not (tags[j].endswith("-LOC") or keys[j] in LIST_JOINERS):
            return False
    return False


def _is_place_word(key: str) -> bool:
    return key in PLACE_WORDS or split_proclitic(key)[1] in PLACE_WORDS


def _tag_spans(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(start, end, type) of each name the IOB2 tags mark; an I- tag that does not go
    on a name of its type starts one."""
    spans = []
    start, last, kind = -1, -1, ""
    # Most tags are O: only the others are looked at, in one pass over the list.
    for i in [i for i, tag in enumerate(tags) if tag != "O"]:
        tag = tags[i]
        if i == last + 1 and tag[0] == "I" and tag[2:] == kind:
            last = i
            continue
        if start >= 0:
            spans.append((start, last + 1, kind))
        start, last, kind = i, i, tag[2:]
    if start >= 0:
        spans.append((start, last + 1, kind))
    return spans


def _entity(text: str, start: int, end: int, kind: str) -> Entity:
    """An entity with any conjunction or preposition on its first word cut off."""
    cut, canonical = _named(text[start:end], kind)
    return Entity(text[start + cut : end], kind, start + cut, end, canonical)


# Mentions whose cut and canonical name are kept: news names the same few
# thousand people, places and bodies day after day (1,500 articles: 11,000
# mentions, most seen once). About 4 MB when full.
NAMED_CACHE = 10_000


@lru_cache(maxsize=NAMED_CACHE)
def _named(mention: str, kind: str) -> tuple[int, str]:
    """(characters cut off the front, canonical name) of a tagged mention."""
    prefix = _detachable_prefix(mention.split(" ", 1)[0])
    surface = mention[len(prefix) :]
    # لل is ل + ال with the alef dropped: للدفاع names الدفاع.
    doubled_lam = prefix.endswith("ل") and surface.startswith("ل")
    canonical = "ا" + surface if doubled_lam else surface
    return len(prefix), _bare_name(canonical, kind)


def _bare_name(name: str, kind: str) -> str:
    """The name without a leading type word (`منظمة الخوذ البيضاء`) or a trailing
    nationality (`تدمر السورية`), when what is left is a name in its own right."""
    words = name.split()
    if len(words) > 1 and word_key(words[0]) in TYPE_WORDS.get(kind, ()):
        words = words[1:]
    if kind == "LOC" and len(words) > 1 and _is_nisba(words[-1]):
        place = tuple(word_key(w) for w in words[:-1])
        if place in load_lexicon().gazetteer:
            words = words[:-1]
    return " ".join(words)


def _is_nisba(word: str) -> bool:
    key = word_key(word)
    return key.startswith("ال") and key.endswith(NISBA_ENDINGS)


def _detachable_prefix(word: str) -> str:
    """The clitics to cut from an entity's first word: only when what is left is a known word."""
    lexicon = load_lexicon()
    key = word_key(word)
    if (key,) in lexicon.gazetteer:
        return ""
    for prefix in DETACHABLE_PREFIXES:
        rest = key[len(prefix) :]
        if key.startswith(prefix) and len(rest) >= MIN_STEM and _known(rest, lexicon):
            return word[: len(prefix)]
        if prefix.endswith("ل") and key.startswith(prefix + "ل") and _known("ا" + rest, lexicon):
            return word[: len(prefix)]
    return ""


def _known(key: str, lexicon: Lexicon) -> bool:
    return (key,) in lexicon.gazetteer or (key in lexicon.clusters and key.startswith("ال"))


def merge_mentions(entities: list[Entity]) -> list[Entity]:
    """Give a short mention of a person or place the canonical form of its longer mention.

    `لافروف` after `سيرجي لافروف` is the same person: a mention whose words are
    all inside an earlier, longer mention of the same type takes its canonical form.
    """
    merged: list[Entity] = []
    # Per type, the canonical forms given so far with their words, in order: a
    # mention is compared with the earlier ones of its own type only.
    earlier: dict[str, list[tuple[str, frozenset[str]]]] = {}
    words_of: dict[str, frozenset[str]] = {}
    for entity in entities:
        canonical = entity.canonical
        words = _words_of(canonical, words_of)
        same_type = earlier.setdefault(entity.type, [])
        for their_canonical, their_words in same_type:
            if len(their_canonical) > len(canonical) and words <= their_words:
                canonical = their_canonical
                break
        merged.append(Entity(entity.text, entity.type, entity.start, entity.end, canonical))
        # What a later mention is compared with: the words of this one's canonical form.
        same_type.append((canonical, _words_of(canonical, words_of)))
    return merged


def _words_of(name: str, known: dict[str, frozenset[str]]) -> frozenset[str]:
    """The word keys of a name, kept in `known`: an article repeats its names."""
    words = known.get(name)
    if words is None:
        words = known[name] = frozenset(word_key(w) for w in name.split())
    return words
