"""Named entities: persons (PERS), places (LOC), organisations (ORG) and the rest (MISC).

A linear-chain CRF (python-crfsuite) trained by `scripts/train_ner.py` on ANERcorp
and shipped in processors/resources tags tokens in IOB2. Its features are the
word's search form, affixes, the clitic-stripped stem, word clusters learned from
unlabelled news, gazetteer membership and trigger words, over a window of two
tokens either side. Entities come back with offsets into the display text and a
canonical form: clitics stripped (`بحلب` -> `حلب`) and a later short mention of a
person merged with the full name (`لافروف` -> `سيرجي لافروف`).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from typing import NamedTuple

import pycrfsuite

from processors.arabic import search_form

# Numbers keep their separators (1,500 / 2.5 / ١٬٥٠٠) so they stay one token;
# words keep their diacritics; any other non-space character is its own token.
TOKEN_RE = re.compile(r"\d+(?:[.,\u066b\u066c]\d+)*|[\w\u064b-\u065f\u0670]+|[^\w\s]")
# Word keys are cached: news vocabulary is small and repeats across articles.
WORD_KEY_CACHE = 200_000
TYPES = ("PERS", "LOC", "ORG", "MISC")
MODEL_FILE = "ner.crfsuite"
CLUSTERS_FILE = "word-clusters.tsv.gz"
ANERGAZET_FILES = {
    "LOC": "anergazet-loc.txt.gz",
    "ORG": "anergazet-org.txt.gz",
    "PERS": "anergazet-pers.txt.gz",
}
CURATED_GAZETTEER = "gazetteer-curated.tsv"
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
# Endings of nationality adjectives (السوري, السورية, الروسيه after folding).
NISBA_ENDINGS = ("ي", "يه")
TRIGGER_TYPE = {word: kind for kind, words in TRIGGERS.items() for word in words}


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

    @cached_property
    def first_words(self) -> frozenset[str]:
        """First words of the listed names: a token that is none of these starts no match."""
        return frozenset(name[0] for name in self.gazetteer)

    def _may_start(self, key: str) -> bool:
        if key in self.first_words:
            return True
        _clitic, stem = split_proclitic(key)
        return stem != key and (stem in self.first_words or "ال" + stem in self.first_words)

    def gazetteer_tags(self, keys: Sequence[str]) -> list[list[str]]:
        """Per token, B-/I- gazetteer tags of every listed name covering it."""
        tags: list[list[str]] = [[] for _ in keys]
        for start in range(len(keys)):
            if not self._may_start(keys[start]):
                continue
            for length in range(1, MAX_GAZETTEER_TOKENS + 1):
                window = tuple(keys[start : start + length])
                if len(window) < length:
                    break
                kinds = self.gazetteer.get(window)
                if kinds is None:
                    kinds = self._stripped_match(window)
                for kind in kinds or ():
                    tags[start].append(f"B-{kind}")
                    for inside in range(start + 1, start + length):
                        tags[inside].append(f"I-{kind}")
        return tags

    def _stripped_match(self, window: tuple[str, ...]) -> frozenset[str] | None:
        _clitic, stem = split_proclitic(window[0])
        if stem == window[0]:
            return None
        found = self.gazetteer.get((stem, *window[1:]))
        if found is None and not stem.startswith("ال"):
            found = self.gazetteer.get(("ال" + stem, *window[1:]))
        return found


def _resource_text(name: str) -> str:
    path = resources.files("processors") / "resources" / name
    data = path.read_bytes()
    return (gzip.decompress(data) if name.endswith(".gz") else data).decode("utf-8")


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
    for line in _resource_text(CURATED_GAZETTEER).splitlines():
        if line and not line.startswith("#"):
            kind, _, name = line.partition("\t")
            _add_entry(entries, kind, name)
    return Lexicon(clusters, {k: frozenset(v) for k, v in entries.items()})


def _add_entry(entries: dict[tuple[str, ...], set[str]], kind: str, name: str) -> None:
    keys = tuple(word_key(token) for token, _s, _e in tokenize(name))
    if keys and len(keys) <= MAX_GAZETTEER_TOKENS and any(len(k) > 1 for k in keys):
        entries.setdefault(keys, set()).add(kind)


@lru_cache(maxsize=WORD_KEY_CACHE)
def _word_features(key: str, shape: str) -> tuple[str, ...]:
    """Features of one word on its own; cached, news repeats its words."""
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
    if key not in lexicon.clusters and (not clitic or stem not in lexicon.clusters):
        features.append("unclustered")
    return tuple(features)


def _shape(token: str) -> str:
    if token.isdigit() or token[0].isdigit():
        return "digit"
    if token.isascii() and token.isalpha():
        return "latin"
    if token.isalpha():
        return "arabic"
    return "punct" if len(token) == 1 else "other"


# Features copied from neighbours: the ones that say most about the current word.
NEIGHBOUR_PREFIXES = ("w=", "c1=", "c2=", "stem=", "trigger=", "shape=", "clitic=")
WINDOW = 2


OFFSETS = tuple(offset for offset in range(-WINDOW, WINDOW + 1) if offset)


@lru_cache(maxsize=WORD_KEY_CACHE)
def _neighbour_features(key: str, shape: str) -> tuple[tuple[str, ...], ...]:
    """What a word tells its neighbours, one tuple per offset it can be seen from."""
    shared = [f for f in _word_features(key, shape) if f.startswith(NEIGHBOUR_PREFIXES)]
    return tuple(tuple(f"{offset}:{f}" for f in shared) for offset in OFFSETS)


@lru_cache(maxsize=WORD_KEY_CACHE)
def _token_features(
    token: str,
) -> tuple[str, tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """A token's key, own features and features for its neighbours, looked up once."""
    key, shape = word_key(token), _shape(token)
    return key, _word_features(key, shape), _neighbour_features(key, shape)


def sentence_features(tokens: Sequence[str]) -> list[list[str]]:
    """CRF features for each token of one sentence."""
    looked_up = [_token_features(token) for token in tokens]
    keys = [key for key, _own, _neighbour in looked_up]
    own = [features for _key, features, _neighbour in looked_up]
    neighbour = [features for _key, _own, features in looked_up]
    gazetteer = load_lexicon().gazetteer_tags(keys)
    rows = []
    for i in range(len(tokens)):
        row = ["bias", *own[i], *(f"g={tag}" for tag in gazetteer[i])]
        for slot, offset in enumerate(OFFSETS):
            j = i + offset
            if not 0 <= j < len(tokens):
                row.append(f"{offset}:edge")
                continue
            row += neighbour[j][slot]
            row += [f"{offset}:g={tag}" for tag in gazetteer[j]]
        if i > 0:
            row.append(f"bigram={keys[i - 1]}|{keys[i]}")

        rows.append(row)
    return rows


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

    Built once per process (the model is memory-mapped by crfsuite). A missing
    or unreadable model file raises OSError at construction, so a stage fails
    at start-up rather than on its first article.
    """

    def __init__(self, model_path: str | None = None) -> None:
        self._tagger = pycrfsuite.Tagger()
        if model_path is None:
            with resources.as_file(resources.files("processors") / "resources" / MODEL_FILE) as p:
                self._tagger.open(str(p))
        else:
            self._tagger.open(model_path)

    def tag_tokens(self, tokens: Sequence[str]) -> list[str]:
        """IOB2 tags for one sentence of tokens."""
        if not tokens:
            return []
        return list(self._tagger.tag(sentence_features(tokens)))

    def entities(
        self, text: str, sentences: Sequence[tuple[int, int]] | None = None
    ) -> list[Entity]:
        """Entities of `text`, tagged sentence by sentence, with canonical names."""
        found: list[Entity] = []
        for start, end in sentences or [(0, len(text))]:
            tokens = list(tokenize(text[start:end]))
            tags = self.tag_tokens([t for t, _s, _e in tokens])
            for first, last, kind in _tag_spans(tags):
                span_start = start + tokens[first][1]
                span_end = start + tokens[last - 1][2]
                found.append(_entity(text, span_start, span_end, kind))
        return merge_mentions(found)


def _tag_spans(tags: Sequence[str]) -> Iterator[tuple[int, int, str]]:
    start, kind = -1, ""
    for i, tag in enumerate([*tags, "O"]):
        if tag.startswith("I-") and tag[2:] == kind and start >= 0:
            continue
        if start >= 0:
            yield start, i, kind
            start, kind = -1, ""
        if tag != "O":
            start, kind = i, tag[2:]


def _entity(text: str, start: int, end: int, kind: str) -> Entity:
    """An entity with any conjunction or preposition on its first word cut off."""
    first_word = text[start:end].split(" ", 1)[0]
    prefix = _detachable_prefix(first_word)
    start += len(prefix)
    surface = text[start:end]
    # لل is ل + ال with the alef dropped: للدفاع names الدفاع.
    doubled_lam = prefix.endswith("ل") and surface.startswith("ل")
    canonical = "ا" + surface if doubled_lam else surface
    return Entity(surface, kind, start, end, _bare_name(canonical, kind))


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
    for entity in entities:
        words = set(word_key(w) for w in entity.canonical.split())
        canonical = entity.canonical
        for earlier in merged:
            if (
                earlier.type == entity.type
                and len(earlier.canonical) > len(canonical)
                and words <= set(word_key(w) for w in earlier.canonical.split())
            ):
                canonical = earlier.canonical
                break
        merged.append(Entity(entity.text, entity.type, entity.start, entity.end, canonical))
    return merged
