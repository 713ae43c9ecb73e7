"""Quotes and who said them.

Two kinds of speech are found: quoted spans (`«…»`, which normalization makes of
`¢…¢` and paired double quotes) and reported speech (a reporting verb such as
قال, أكد, أعلن followed by أن/إن and the clause). Each is linked to a speaker:
the subject right after the verb (`أكد وزير الخارجية الروسي سيرجي لافروف أن`),
else the nearest person or organisation before it in the sentence (`كان اللواء
… زيد الصالح قد أكد`), else an unnamed source (`مصدر عسكري سوري`). A participle
that continues someone's words (`مؤكدا أن`, `مشيرا إلى أن`) keeps the speaker
of the speech before it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from processors.entities import Entity, split_proclitic, tokenize, word_key

# Reporting verbs in search form (past, feminine, present); و/ف may be attached.
REPORTING_VERBS = frozenset(
    (
        "قال",
        "قالت",
        "يقول",
        "تقول",
        "اكد",
        "اكدت",
        "يؤكد",
        "تؤكد",
        "اضاف",
        "اضافت",
        "يضيف",
        "تضيف",
        "اعلن",
        "اعلنت",
        "يعلن",
        "تعلن",
        "صرح",
        "صرحت",
        "اشار",
        "اشارت",
        "يشير",
        "تشير",
        "اوضح",
        "اوضحت",
        "يوضح",
        "توضح",
        "ذكر",
        "ذكرت",
        "يذكر",
        "تذكر",
        "افاد",
        "افادت",
        "نقل",
        "نقلت",
        "كشف",
        "كشفت",
        "اعتبر",
        "اعتبرت",
        "شدد",
        "شددت",
        "دعا",
        "دعت",
        "حذر",
        "حذرت",
        "نفي",
        "نفت",
        "رأي",
        "راي",
        "رات",
    )
)
# Participles that carry on the previous speaker's words.
CONTINUING_PARTICIPLES = frozenset(
    (
        "مؤكدا",
        "مؤكده",
        "مشيرا",
        "مشيره",
        "مضيفا",
        "مضيفه",
        "موضحا",
        "موضحه",
        "معتبرا",
        "معتبره",
        "مشددا",
        "مشدده",
        "لافتا",
        "لافته",
        "محذرا",
        "محذره",
        "قائلا",
        "قائله",
    )
)
COMPLEMENTIZERS = frozenset(("ان", "بان", "انه", "انها", "انهم"))
# Words that open an unnamed source, and how many words after them belong to it.
SOURCE_HEADS = frozenset(
    ("مصدر", "مصادر", "مسؤول", "مسؤولون", "متحدث", "مراقبون", "شهود", "ناشطون", "خبراء", "مصدرا")
)
MAX_SOURCE_WORDS = 4
# Within this many characters before a quote mark, a reporting verb claims it.
QUOTE_REACH = 250
QUOTED_RE = re.compile(r"«([^«»]+)»|\"([^\"\n]+)\"")
SPEAKER_TYPES = ("PERS", "ORG")
# An aside between verb and clause (`أكد - في تصريحات … - إن`) names no speaker.
ASIDE_MARKS = frozenset(("-", "،", ",", "(", "–"))
# Shorter quoted spans are names or scare quotes (تنظيم «داعش», ب«السخيفة»), not speech.
MIN_QUOTE_WORDS = 3


@dataclass(frozen=True)
class Quote:
    """Words attributed to someone: the quoted text and its speaker (None when unknown)."""

    text: str
    speaker: str | None
    speaker_type: str | None  # PERS, ORG, source or None
    start: int
    end: int


@dataclass(frozen=True)
class _Speech:
    verb_start: int
    clause_start: int
    speaker: tuple[str, str] | None
    sentence: int


def extract_quotes(
    text: str, entities: Sequence[Entity], sentences: Sequence[tuple[int, int]]
) -> list[Quote]:
    """Quoted spans and reported speech in `text`, each with its speaker."""
    speeches = _speeches(text, entities, sentences)
    quotes = []
    claimed: list[tuple[int, int]] = []
    for match in QUOTED_RE.finditer(text):
        if len(match.group().split()) < MIN_QUOTE_WORDS:
            continue
        speech = _speech_before(speeches, match.start())
        quotes.append(_quote(text, match.start() + 1, match.end() - 1, speech))
        claimed.append((match.start(), match.end()))
    for speech in speeches:
        if any(speech.verb_start <= start <= speech.clause_start + 3 for start, _ in claimed):
            continue
        end = _sentence_end(sentences, speech.clause_start, len(text))
        if end - speech.clause_start > 1:
            quotes.append(_quote(text, speech.clause_start, end, speech))
    return sorted(quotes, key=lambda q: q.start)


def _quote(text: str, start: int, end: int, speech: _Speech | None) -> Quote:
    speaker = speech.speaker if speech else None
    return Quote(
        text=text[start:end].strip(" .،,"),
        speaker=speaker[0] if speaker else None,
        speaker_type=speaker[1] if speaker else None,
        start=start,
        end=end,
    )


def _speech_before(speeches: Sequence[_Speech], at: int) -> _Speech | None:
    for speech in reversed(speeches):
        if speech.verb_start < at and at - speech.clause_start <= QUOTE_REACH:
            return speech
    return None


def _sentence_end(sentences: Sequence[tuple[int, int]], at: int, default: int) -> int:
    for start, end in sentences:
        if start <= at < end:
            return end
    return default


def _speeches(
    text: str, entities: Sequence[Entity], sentences: Sequence[tuple[int, int]]
) -> list[_Speech]:
    tokens = list(tokenize(text))
    speeches: list[_Speech] = []
    for i, (token, start, _end) in enumerate(tokens):
        key = word_key(token)
        clitic, stem = split_proclitic(key)
        verb = key if key in REPORTING_VERBS else stem if clitic in ("و", "ف") else ""
        continuing = key in CONTINUING_PARTICIPLES
        if not continuing and verb not in REPORTING_VERBS:
            continue
        clause = _clause_start(tokens, i)
        if clause is None:
            continue
        sentence = _sentence_index(sentences, start)
        if continuing:
            # The participle carries on the last speaker only right after their words.
            recent = speeches and speeches[-1].sentence >= sentence - 1
            if recent:
                speaker = speeches[-1].speaker
            else:
                speaker = _last_person(entities, sentences, sentence - 1)
        else:
            speaker = _speaker(text, tokens, i, clause, entities, sentences)
        speeches.append(_Speech(start, clause, speaker, sentence))
    return speeches


def _last_person(
    entities: Sequence[Entity], sentences: Sequence[tuple[int, int]], index: int
) -> tuple[str, str] | None:
    """The last person named in sentence `index`: who a participle after it speaks for."""
    if not 0 <= index < len(sentences):
        return None
    start, end = sentences[index]
    people = [e for e in entities if start <= e.start < end and e.type == "PERS"]
    return (people[-1].canonical, "PERS") if people else None


def _sentence_index(sentences: Sequence[tuple[int, int]], at: int) -> int:
    return next(
        (i for i, (start, end) in enumerate(sentences) if start <= at < end), len(sentences)
    )


def _clause_start(tokens: Sequence[tuple[str, int, int]], verb: int) -> int | None:
    """Where the reported words begin: after the first أن/إن within the next words."""
    depth = 0
    for token, _start, end in tokens[verb + 1 : verb + 40]:
        if token == "-":
            depth ^= 1
            continue
        if depth:
            continue
        key = word_key(token)
        if key in COMPLEMENTIZERS:
            return end + 1
        if token in ".؟!":
            return None
        if token in ("«", ":"):
            return end
    return None


def _speaker(
    text: str,
    tokens: Sequence[tuple[str, int, int]],
    verb: int,
    clause: int,
    entities: Sequence[Entity],
    sentences: Sequence[tuple[int, int]],
) -> tuple[str, str] | None:
    verb_start, verb_end = tokens[verb][1], tokens[verb][2]
    subject_end = _subject_end(tokens, verb, clause)
    after = [e for e in entities if verb_end <= e.start < subject_end and e.type in SPEAKER_TYPES]
    source = _unnamed_source(text, tokens, verb, clause)
    if after and (source is None or after[0].start < source[2]):
        chosen = _prefer_person(after)
        return chosen.canonical, chosen.type
    if source is not None:
        return source[0], "source"
    sentence_start = max((s for s, _e in sentences if s <= verb_start), default=0)
    before = [
        e
        for e in entities
        if sentence_start <= e.start and e.end <= verb_start and e.type in SPEAKER_TYPES
    ]
    if before:
        chosen = _prefer_person(list(reversed(before)))
        return chosen.canonical, chosen.type
    return None


def _subject_end(tokens: Sequence[tuple[str, int, int]], verb: int, clause: int) -> int:
    """Where the subject after a verb can end: at a dash or comma aside, or the clause."""
    for token, start, _end in tokens[verb + 1 :]:
        if start >= clause or token in ASIDE_MARKS:
            return min(start, clause)
    return clause


def _prefer_person(candidates: Sequence[Entity]) -> Entity:
    """The first person among candidates (a minister before his ministry), else the first."""
    return next((e for e in candidates if e.type == "PERS"), candidates[0])


def _unnamed_source(
    text: str, tokens: Sequence[tuple[str, int, int]], verb: int, clause: int
) -> tuple[str, int, int] | None:
    for i in range(verb + 1, min(verb + 4, len(tokens))):
        if tokens[i][1] >= clause:
            return None
        if word_key(tokens[i][0]) in SOURCE_HEADS:
            last = i
            for j in range(i + 1, min(i + 1 + MAX_SOURCE_WORDS, len(tokens))):
                key = word_key(tokens[j][0])
                if tokens[j][1] >= clause or key in COMPLEMENTIZERS or not tokens[j][0].isalpha():
                    break
                last = j
            start, end = tokens[i][1], tokens[last][2]
            return text[start:end], start, end
    return None
