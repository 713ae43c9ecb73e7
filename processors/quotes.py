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
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from processors.entities import WORD_KEY_CACHE, Entity, split_proclitic
from processors.tokens import Tokens

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
        "يري",
        "تري",
        "يفيد",
        "تفيد",
        "يصرح",
        "تصرح",
        "ابلغ",
        "ابلغت",
    )
)
# Reporting verbs that also open the paper's own asides (`يذكر أن`: it is worth
# recalling that): speech only when someone is named as saying it.
IMPERSONAL_VERBS = frozenset(("يذكر", "ويذكر"))
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
COMPLEMENTIZERS = frozenset(("ان", "بان", "انه", "انها", "انهم", "بانه", "بانها", "بانهم"))
# Words that open an unnamed source, and how many words after them belong to it.
SOURCE_HEADS = frozenset(
    ("مصدر", "مصادر", "مسؤول", "مسؤولون", "متحدث", "مراقبون", "شهود", "ناشطون", "خبراء", "مصدرا")
)
MAX_SOURCE_WORDS = 4
# Longest speaker taken from the words after the verb when no entity is there.
MAX_SUBJECT_WORDS = 5
# Within this many characters before a quote mark, a reporting verb claims it.
QUOTE_REACH = 250
QUOTED_RE = re.compile(r"«([^«»]+)»|\"([^\"\n]+)\"")
SPEAKER_TYPES = ("PERS", "ORG")
# An aside between verb and clause (`أكد - في تصريحات … - إن`) names no speaker.
ASIDE_MARKS = frozenset(("-", "،", ",", "(", "–"))
# Tokens that end a sentence before any reported clause began.
SENTENCE_ENDS = frozenset(".؟!")
# A quoted span no reporting verb claims is speech only when this long; shorter
# ones are names and titles (`«قناة السويس الجديدة»`, `«فلسطين حرية وثقافة»`).
MIN_UNCLAIMED_QUOTE_WORDS = 6
# Letters written onto a guillemet that opens a name, not speech: ل«الشرق الأوسط».
NAME_CLITICS = frozenset("لبوف")
# Words that end a speaker's name and begin where or when he spoke.
SUBJECT_ENDS = frozenset(
    ("في", "فيه", "فيها", "له", "لها", "خلال", "عبر", "امس", "اليوم", "ل", "عن", "الي", "علي")
    + ("لدي", "هذا", "هذه", "ذلك", "تلك")
)
# Shorter quoted spans are names or scare quotes (تنظيم «داعش», ب«السخيفة»), not speech.
MIN_QUOTE_WORDS = 3


@dataclass(frozen=True)
class Quote:
    """Words attributed to someone: the quoted text and its speaker (None when unknown)."""

    text: str
    speaker: str | None
    speaker_type: str | None  # PERS, ORG, source, or None (untyped or unknown)
    start: int
    end: int


@dataclass(frozen=True)
class _Speech:
    verb_start: int
    clause_start: int
    speaker: tuple[str, str | None] | None
    sentence: int


def extract_quotes(
    text: str,
    entities: Sequence[Entity],
    sentences: Sequence[tuple[int, int]],
    tokens: Tokens | None = None,
) -> list[Quote]:
    """Quoted spans and reported speech in `text`, each with its speaker; `tokens` are
    its tokens when already made."""
    speeches = _speeches(tokens or Tokens.of(text), entities, sentences)
    reported = [
        (speech, _sentence_end(sentences, speech.clause_start, len(text))) for speech in speeches
    ]
    quotes = []
    claimed: list[tuple[int, int]] = []
    for match in QUOTED_RE.finditer(text):
        words = len(match.group().split())
        if words < MIN_QUOTE_WORDS or _inside_reported(reported, match.start()):
            continue
        speech = _speech_before(speeches, match.start())
        if speech is None and words < MIN_UNCLAIMED_QUOTE_WORDS:
            continue
        quotes.append(_quote(text, match.start() + 1, match.end() - 1, speech))
        claimed.append((match.start(), match.end()))
    clauses_seen: set[int] = set()
    for speech, end in reported:
        if any(speech.verb_start <= start <= speech.clause_start + 3 for start, _ in claimed):
            continue
        if speech.clause_start in clauses_seen:
            continue  # two verbs reaching the same أن: one quote
        clauses_seen.add(speech.clause_start)
        if end - speech.clause_start > 1:
            quotes.append(_quote(text, speech.clause_start, end, speech))
    return sorted(quotes, key=lambda q: q.start)


def _inside_reported(reported: Sequence[tuple[_Speech, int]], at: int) -> bool:
    """Whether a quoted span at `at` lies within a reported clause: the clause has it."""
    return any(speech.clause_start + 3 < at < end for speech, end in reported)


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
    tokens: Tokens, entities: Sequence[Entity], sentences: Sequence[tuple[int, int]]
) -> list[_Speech]:
    sentence_starts = [start for start, _end in sentences]
    speeches: list[_Speech] = []
    for i in tokens.where(_is_speech_word):
        clause = _clause_start(tokens, i)
        if clause is None:
            continue
        start = tokens.start(i)
        sentence = _sentence_index(sentences, sentence_starts, start)
        recent = (
            speeches[-1].speaker if speeches and speeches[-1].sentence >= sentence - 1 else None
        )
        if tokens.keys[i] in CONTINUING_PARTICIPLES:
            # The participle carries on the last speaker only right after their words.
            speaker = recent or _last_person(entities, sentences, sentence, start)
        elif recent and _no_subject(tokens, i):
            # No subject (`وقال: إن`, `وأضاف أن`): the one who spoke just before.
            speaker = recent
        else:
            speaker = _speaker(tokens, i, clause, entities, sentences)
        if speaker is None and tokens.keys[i] in IMPERSONAL_VERBS:
            continue
        speeches.append(_Speech(start, clause, speaker, sentence))
    return speeches


@lru_cache(maxsize=WORD_KEY_CACHE)
def _is_speech_word(key: str) -> bool:
    """A reporting verb, with or without و/ف, or a participle carrying on someone's words."""
    if key in REPORTING_VERBS or key in CONTINUING_PARTICIPLES:
        return True
    clitic, stem = split_proclitic(key)
    return clitic in ("و", "ف") and stem in REPORTING_VERBS


def _last_person(
    entities: Sequence[Entity], sentences: Sequence[tuple[int, int]], index: int, before: int
) -> tuple[str, str | None] | None:
    """The last person named before offset `before` in sentence `index`, else in the
    sentence before it: who a participle with no speech before it speaks for."""
    for sentence in (index, index - 1):
        if not 0 <= sentence < len(sentences):
            continue
        start, end = sentences[sentence]
        people = [e for e in entities if start <= e.start < min(end, before) and e.type == "PERS"]
        if people:
            return people[-1].canonical, "PERS"
    return None


def _sentence_index(sentences: Sequence[tuple[int, int]], starts: Sequence[int], at: int) -> int:
    """The index of the sentence holding offset `at`, len(sentences) when none does."""
    i = bisect_right(starts, at) - 1
    return i if i >= 0 and at < sentences[i][1] else len(sentences)


def _clause_start(tokens: Tokens, verb: int) -> int | None:
    """Where the reported words begin: after the first أن/إن within the next words."""
    depth = 0
    for i in range(verb + 1, min(verb + 40, len(tokens))):
        key = tokens.keys[i]
        if key == "-":
            depth ^= 1
            continue
        if depth:
            continue
        if key in COMPLEMENTIZERS:
            return tokens.end(i) + 1
        if key in SENTENCE_ENDS:
            return None
        if key == ":" or (key == "«" and tokens.keys[i - 1] not in NAME_CLITICS):
            return tokens.end(i)
    return None


def _speaker(
    tokens: Tokens,
    verb: int,
    clause: int,
    entities: Sequence[Entity],
    sentences: Sequence[tuple[int, int]],
) -> tuple[str, str | None] | None:
    verb_start, verb_end = tokens.spans[verb]
    subject_end = _subject_end(tokens, verb, clause)
    after = [e for e in entities if verb_end <= e.start < subject_end and e.type in SPEAKER_TYPES]
    source = _unnamed_source(tokens, verb, clause)
    if after and (source is None or after[0].start < source[2]):
        chosen = _prefer_person(after)
        return chosen.canonical, chosen.type
    if source is not None:
        return source[0], "source"
    subject = _subject_words(tokens, verb, subject_end)
    if subject is not None:
        return subject, None
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


def _subject_end(tokens: Tokens, verb: int, clause: int) -> int:
    """Where the subject after a verb can end: at a dash or comma aside, or the clause."""
    for i in range(verb + 1, len(tokens)):
        start = tokens.start(i)
        if start >= clause or tokens.keys[i] in ASIDE_MARKS:
            return min(start, clause)
    return clause


def _no_subject(tokens: Tokens, verb: int) -> bool:
    """Whether the verb is followed straight by its clause or by where it was said."""
    after = tokens.keys[verb + 1] if verb + 1 < len(tokens) else ""
    return after in COMPLEMENTIZERS or after in SUBJECT_ENDS or after in (":", "«", "،", ",")


def _subject_words(tokens: Tokens, verb: int, subject_end: int) -> str | None:
    """The words after the verb up to where or when it was said (`أكدت الهيئة
    السعودية للمهندسين أن`): a speaker the entity tagger did not name."""
    last = None
    for i in range(verb + 1, min(verb + 1 + MAX_SUBJECT_WORDS, len(tokens))):
        key = tokens.keys[i]
        if tokens.start(i) >= subject_end or key in SUBJECT_ENDS or key in COMPLEMENTIZERS:
            break
        if not tokens.word(i).isalpha():
            break
        last = i
    if last is None:
        return None
    return tokens.text[tokens.start(verb + 1) : tokens.end(last)]


def _prefer_person(candidates: Sequence[Entity]) -> Entity:
    """The first person among candidates (a minister before his ministry), else the first."""
    return next((e for e in candidates if e.type == "PERS"), candidates[0])


def _unnamed_source(tokens: Tokens, verb: int, clause: int) -> tuple[str, int, int] | None:
    for i in range(verb + 1, min(verb + 4, len(tokens))):
        if tokens.start(i) >= clause:
            return None
        if tokens.keys[i] in SOURCE_HEADS:
            last = i
            for j in range(i + 1, min(i + 1 + MAX_SOURCE_WORDS, len(tokens))):
                key = tokens.keys[j]
                if (
                    tokens.start(j) >= clause
                    or key in COMPLEMENTIZERS
                    or not tokens.word(j).isalpha()
                ):
                    break
                last = j
            start, end = tokens.start(i), tokens.end(last)
            return tokens.text[start:end], start, end
    return None
