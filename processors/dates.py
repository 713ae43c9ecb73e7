"""Dates in the text: relative words and weekdays resolved against the publication time.

`أمس`, `اليوم`, `غدا` and weekday names (the most recent such day on or before
publication, the next one with `المقبل`) resolve against `published_at`;
`12 ديسمبر`, `12 كانون الأول` and Hijri `5 رمضان 1436` resolve to a Gregorian
date, taking the year from publication when the text leaves it out. A date that
cannot be resolved (no publication time, no day number) keeps `value` None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

from hijridate import Gregorian, Hijri

from processors.entities import WORD_KEY_CACHE, split_proclitic
from processors.tokens import Tokens

RELATIVE_DAYS = {"امس": -1, "اليوم": 0, "غدا": 1, "البارحه": -1}
# Python's weekday(): Monday is 0.
WEEKDAYS = {
    "الاثنين": 0,
    "الثلاثاء": 1,
    "الاربعاء": 2,
    "الخميس": 3,
    "الجمعه": 4,
    "السبت": 5,
    "الاحد": 6,
}
GREGORIAN_MONTHS = {
    "يناير": 1,
    "فبراير": 2,
    "مارس": 3,
    "ابريل": 4,
    "مايو": 5,
    "يونيو": 6,
    "يوليو": 7,
    "اغسطس": 8,
    "سبتمبر": 9,
    "اكتوبر": 10,
    "نوفمبر": 11,
    "ديسمبر": 12,
    "شباط": 2,
    "اذار": 3,
    "نيسان": 4,
    "ايار": 5,
    "حزيران": 6,
    "تموز": 7,
    "اب": 8,
    "ايلول": 9,
}
# Levantine month names of two words.
TWO_WORD_MONTHS = {
    ("كانون", "الثاني"): 1,
    ("تشرين", "الاول"): 10,
    ("تشرين", "الثاني"): 11,
    ("كانون", "الاول"): 12,
}
HIJRI_MONTHS = {"محرم": 1, "صفر": 2, "رجب": 7, "شعبان": 8, "رمضان": 9, "شوال": 10}
TWO_WORD_HIJRI = {
    ("ربيع", "الاول"): 3,
    ("ربيع", "الاخر"): 4,
    ("ربيع", "الثاني"): 4,
    ("جمادي", "الاولي"): 5,
    ("جمادي", "الاخره"): 6,
    ("جمادي", "الثانيه"): 6,
    ("ذو", "القعده"): 11,
    ("ذي", "القعده"): 11,
    ("ذو", "الحجه"): 12,
    ("ذي", "الحجه"): 12,
}
NEXT_WORDS = ("المقبل", "القادم")
FUTURE_WEIGHT = 2
# A year after the month is taken when it is plausibly a year of either calendar.
MIN_YEAR, MAX_YEAR = 1300, 2200


@dataclass(frozen=True)
class DateMention:
    """A date in the text and, when resolvable, its ISO date."""

    text: str
    value: str | None
    start: int
    end: int


def extract_dates(
    text: str, published_at: datetime | None, tokens: Tokens | None = None
) -> list[DateMention]:
    """Every date mention in `text`, resolved where the text and publication time allow;
    `tokens` are its tokens when already made."""
    tokens = tokens or Tokens.of(text)
    today = published_at.date() if published_at else None
    found = []
    position = 0
    for i in tokens.where(_may_start_date):
        if i < position:
            continue  # inside the date before
        mention, position = _date_at(tokens, i, today)
        if mention is not None:
            found.append(mention)
    return found


@lru_cache(maxsize=WORD_KEY_CACHE)
def _may_start_date(key: str) -> bool:
    bare = _bare(key)
    return bare in RELATIVE_DAYS or bare in WEEKDAYS or key.isdigit()


def _date_at(tokens: Tokens, i: int, today: date | None) -> tuple[DateMention | None, int]:
    keys = tokens.keys
    key = _bare(keys[i])
    if key in RELATIVE_DAYS:
        value = today + timedelta(days=RELATIVE_DAYS[key]) if today else None
        return _mention(tokens, i, i + 1, value), i + 1
    if key in WEEKDAYS:
        following = i + 1 < len(keys) and keys[i + 1] in NEXT_WORDS
        end = i + 2 if following else i + 1
        return _mention(tokens, i, end, _weekday(today, WEEKDAYS[key], following)), end
    if keys[i].isdigit() and i + 1 < len(keys):
        return _day_month(tokens, i, today)
    return None, i + 1


@lru_cache(maxsize=WORD_KEY_CACHE)
def _bare(key: str) -> str:
    clitic, stem = split_proclitic(key)
    return stem if clitic in ("و", "ف", "ب", "ل") and not key.startswith("ال") else key


def _weekday(today: date | None, weekday: int, following: bool) -> date | None:
    if today is None:
        return None
    if following:
        return today + timedelta(days=(weekday - today.weekday() - 1) % 7 + 1)
    return today - timedelta(days=(today.weekday() - weekday) % 7)


def _day_month(tokens: Tokens, i: int, today: date | None) -> tuple[DateMention | None, int]:
    keys = tokens.keys
    day = int(keys[i])
    month, hijri, end = _month_after(keys, i + 1)
    if month is None or not 1 <= day <= 31:
        return None, i + 1
    year = None
    if end < len(keys) and keys[end].isdigit() and MIN_YEAR <= int(keys[end]) <= MAX_YEAR:
        year = int(keys[end])
        end += 1
    value = _resolve(day, month, year, hijri, today)
    return _mention(tokens, i, end, value), end


def _month_after(keys: Sequence[str], j: int) -> tuple[int | None, bool, int]:
    if j >= len(keys):
        return None, False, j
    pair = (keys[j], keys[j + 1]) if j + 1 < len(keys) else ("", "")
    if pair in TWO_WORD_MONTHS:
        return TWO_WORD_MONTHS[pair], False, j + 2
    if pair in TWO_WORD_HIJRI:
        return TWO_WORD_HIJRI[pair], True, j + 2
    key = keys[j]
    if key in GREGORIAN_MONTHS:
        return GREGORIAN_MONTHS[key], False, j + 1
    if key in HIJRI_MONTHS:
        return HIJRI_MONTHS[key], True, j + 1
    return None, False, j


def _resolve(
    day: int, month: int, year: int | None, hijri: bool, today: date | None
) -> date | None:
    try:
        if hijri:
            if year is None:
                if today is None:
                    return None
                year = Gregorian.fromdate(today).to_hijri().year
            return Hijri(year, month, day).to_gregorian()
        if year is None:
            if today is None:
                return None
            return _nearest(day, month, today)
        return date(year, month, day)
    except (ValueError, OverflowError):
        return None


def _nearest(day: int, month: int, today: date) -> date:
    """The day and month in the year that puts them nearest publication."""
    candidates = []
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            candidates.append(date(year, month, day))
        except ValueError:
            continue
    if not candidates:
        raise ValueError(f"no year has day {day} of month {month}")
    return min(candidates, key=lambda d: _distance(d, today))


def _distance(when: date, today: date) -> int:
    # News reports the past more than it announces the future: future days count double.
    days = (when - today).days
    return days * FUTURE_WEIGHT if days > 0 else -days


def _mention(tokens: Tokens, first: int, end: int, value: date | None) -> DateMention:
    start, stop = tokens.start(first), tokens.end(end - 1)
    return DateMention(tokens.text[start:stop], value.isoformat() if value else None, start, stop)
