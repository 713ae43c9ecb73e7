"""Dates in the text: relative words and weekdays resolved against the publication time.

`أمس`, `اليوم`, `غدا` and weekday names (the most recent such day on or before
publication, the next one with `المقبل`) resolve against `published_at`;
`12 ديسمبر`, `12 كانون الأول` and Hijri `5 رمضان 1436` resolve to a Gregorian
date, taking the year from publication when the text leaves it out. A date that
cannot be resolved (no publication time, no day number) keeps `value` None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from hijridate import Gregorian, Hijri

from processors.entities import WORD_KEY_CACHE, split_proclitic
from processors.tokens import Tokens

RELATIVE_DAYS = {"امس": -1, "الامس": -1, "اليوم": 0, "غدا": 1, "البارحه": -1}
RELATIVE_PHRASES = {("اول", "من", "امس"): -2, ("امس", "الاول"): -2, ("بعد", "غد"): 2}
RELATIVE_PHRASE_STARTS = frozenset(phrase[0] for phrase in RELATIVE_PHRASES)
# A weekday after a relative day may stand in brackets or guillemets: اليوم (الخميس).
OPENING_MARKS = frozenset("(«")
CLOSING_MARKS = frozenset(")»")
# Days in words, as in `التاسع عشر من أغسطس` (search forms, masculine: يوم).
ORDINAL_DAYS = {
    "الاول": 1,
    "الحادي": 1,
    "الثاني": 2,
    "الثالث": 3,
    "الرابع": 4,
    "الخامس": 5,
    "السادس": 6,
    "السابع": 7,
    "الثامن": 8,
    "التاسع": 9,
    "العاشر": 10,
    "العشرين": 20,
    "الثلاثين": 30,
}
ORDINAL_TENS_AFTER_WAW = {"والعشرين": 20}
# Words that may stand between a day and its month.
MONTH_LEADS = ("من", "شهر")
# Words joining the two ends of a range of days.
RANGE_WORDS = frozenset(("الي", "حتي", "-", "و"))
# A four-digit year up to this is Hijri (the Hijri year 1500 is 2077).
MAX_HIJRI_YEAR = 1500
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
    # (month, year, Hijri) of a day-and-month date, for a range's other end.
    parts: tuple[int, int | None, bool] | None = field(default=None, compare=False, repr=False)


def extract_dates(
    text: str, published_at: datetime | None, tokens: Tokens | None = None
) -> list[DateMention]:
    """Every date mention in `text`, resolved where the text and publication time allow;
    `tokens` are its tokens when already made."""
    tokens = tokens or Tokens.of(text)
    today = published_at.date() if published_at else None
    found: list[DateMention] = []
    position = 0
    for i in tokens.where(_may_start_date):
        if i < position:
            continue  # inside the date before
        mention, position = _date_at(tokens, i, today)
        if mention is not None:
            found.extend(_range_start(tokens, i, mention, today, found))
            found.append(mention)
    return found


@lru_cache(maxsize=WORD_KEY_CACHE)
def _may_start_date(key: str) -> bool:
    bare = _bare(key)
    return (
        bare in RELATIVE_DAYS
        or bare in WEEKDAYS
        or key.isdigit()
        or key in ORDINAL_DAYS
        or key in RELATIVE_PHRASE_STARTS
    )


def _date_at(tokens: Tokens, i: int, today: date | None) -> tuple[DateMention | None, int]:
    keys = tokens.keys
    key = _bare(keys[i])
    phrase = _relative_phrase(keys, i)
    if phrase is not None:
        offset, end = phrase
        return _relative(tokens, i, end, offset, today)
    if key in RELATIVE_DAYS:
        if _is(keys, i - 1, "«") and _is(keys, i + 1, "»"):
            return None, i + 1  # a name in guillemets: the paper «اليوم»
        return _relative(tokens, i, i + 1, RELATIVE_DAYS[key], today)
    if key in WEEKDAYS:
        following = i + 1 < len(keys) and keys[i + 1] in NEXT_WORDS
        end = i + 2 if following else i + 1
        return _mention(tokens, i, end, _weekday(today, WEEKDAYS[key], following)), end
    if keys[i].isdigit() and i + 1 < len(keys):
        numeric = _numeric_date(tokens, i, today)
        return numeric if numeric[0] is not None else _day_month(tokens, i, i + 1, today)
    if keys[i] in ORDINAL_DAYS:
        return _ordinal_day_month(tokens, i, today)
    return None, i + 1


def _relative_phrase(keys: Sequence[str], i: int) -> tuple[int, int] | None:
    """(days from publication, end) of أول من أمس, أمس الأول, بعد غد starting at `i`."""
    for phrase, offset in RELATIVE_PHRASES.items():
        if tuple(keys[i : i + len(phrase)]) == phrase:
            return offset, i + len(phrase)
    return None


def _relative(
    tokens: Tokens, i: int, end: int, offset: int, today: date | None
) -> tuple[DateMention, int]:
    """A relative day, with the weekday that may follow it (`أمس الأربعاء`,
    `اليوم (الخميس)`): the weekday names the day, the relative word brings it near."""
    value = today + timedelta(days=offset) if today else None
    weekday_end = _weekday_after(tokens.keys, end)
    if weekday_end is None:
        return _mention(tokens, i, end, value), end
    weekday = WEEKDAYS[_bare(tokens.keys[weekday_end[0]])]
    if value is not None:
        # The weekday within three days either side of the relative day.
        value += timedelta(days=(weekday - value.weekday() + 3) % 7 - 3)
    return _mention(tokens, i, weekday_end[1], value), weekday_end[1]


def _weekday_after(keys: Sequence[str], j: int) -> tuple[int, int] | None:
    """(weekday index, end) when a weekday follows at `j`, bare or in brackets."""
    opened = j < len(keys) and keys[j] in OPENING_MARKS
    at = j + 1 if opened else j
    if at >= len(keys) or _bare(keys[at]) not in WEEKDAYS:
        return None
    closed = opened and at + 1 < len(keys) and keys[at + 1] in CLOSING_MARKS
    return at, at + 2 if closed else at + 1


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


def _day_month(
    tokens: Tokens, first: int, after_day: int, today: date | None, day: int | None = None
) -> tuple[DateMention | None, int]:
    """A day before a month name (`12 ديسمبر`, `18 من أغسطس آب`, `5 رمضان 1436`)."""
    keys = tokens.keys
    day = int(keys[first]) if day is None else day
    month, hijri, end = _month_after(keys, _skip_month_lead(keys, after_day))
    if month is None or not 1 <= day <= 31:
        return None, first + 1
    year = None
    if end < len(keys) and keys[end].isdigit() and MIN_YEAR <= int(keys[end]) <= MAX_YEAR:
        year = int(keys[end])
        end += 1
    value = _resolve(day, month, year, hijri, today)
    return _mention(tokens, first, end, value, (month, year, hijri)), end


def _skip_month_lead(keys: Sequence[str], j: int) -> int:
    """Past the words that may stand between a day and its month: من, شهر."""
    for lead in MONTH_LEADS:
        if j < len(keys) and keys[j] == lead:
            j += 1
    return j


def _ordinal_day_month(
    tokens: Tokens, i: int, today: date | None
) -> tuple[DateMention | None, int]:
    """A day in words before a month: `التاسع عشر من شهر أغسطس`, `العاشر من ذي الحجة`."""
    keys = tokens.keys
    day, after = ORDINAL_DAYS[keys[i]], i + 1
    if after < len(keys) and keys[after] == "عشر" and day < 10:
        day, after = day + 10, after + 1
    elif after < len(keys) and keys[after] in ORDINAL_TENS_AFTER_WAW and day < 10:
        day, after = day + ORDINAL_TENS_AFTER_WAW[keys[after]], after + 1
    if after >= len(keys) or keys[after] not in MONTH_LEADS:
        return None, i + 1  # an ordinal not followed by من: not a day of a month
    return _day_month(tokens, i, after, today, day)


def _numeric_date(tokens: Tokens, i: int, today: date | None) -> tuple[DateMention | None, int]:
    """Day/month/year in digits (`15/9/1436هـ`, `21 / 8/ 2015`), or day/month/ with
    the year left to the reader; the Hijri calendar when the year says so."""
    keys = tokens.keys
    if not (_is(keys, i + 1, "/") and i + 2 < len(keys) and keys[i + 2].isdigit()):
        return None, i + 1
    day, month, end = int(keys[i]), int(keys[i + 2]), i + 3
    if not _is(keys, end, "/") or not 1 <= month <= 12:
        return None, i + 1
    end += 1
    year = None
    if end < len(keys) and keys[end].isdigit() and len(keys[end]) == 4:
        year, end = int(keys[end]), end + 1
    hijri = year is not None and year <= MAX_HIJRI_YEAR
    if _is(keys, end, "ه") or _is(keys, end, "هـ"):
        hijri, end = year is not None, end + 1
    value = _resolve(day, month, year, hijri, today)
    return _mention(tokens, i, end, value, (month, year, hijri)), end


def _is(keys: Sequence[str], j: int, key: str) -> bool:
    return 0 <= j < len(keys) and keys[j] == key


def _range_start(
    tokens: Tokens, i: int, mention: DateMention, today: date | None, found: list[DateMention]
) -> list[DateMention]:
    """The first day of a range written once (`من 15 إلى 18 أغسطس`): it takes the
    month and year of the second."""
    keys = tokens.keys
    if mention.parts is None or i < 2 or keys[i - 1] not in RANGE_WORDS:
        return []
    if not keys[i - 2].isdigit() or not 1 <= int(keys[i - 2]) <= 31:
        return []
    start = tokens.start(i - 2)
    if found and found[-1].end > start:
        return []
    month, year, hijri = mention.parts
    value = _resolve(int(keys[i - 2]), month, year, hijri, today)
    return [_mention(tokens, i - 2, i - 1, value)]


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
        month = GREGORIAN_MONTHS[key]
        return month, False, _same_month_again(keys, j + 1, month)
    if key in HIJRI_MONTHS:
        return HIJRI_MONTHS[key], True, j + 1
    return None, False, j


def _same_month_again(keys: Sequence[str], j: int, month: int) -> int:
    """Past the month's other name, as papers write both: `أغسطس آب`, `آب/أغسطس`."""
    separated = _is(keys, j, "/") or _is(keys, j, "-")
    if separated and j + 1 < len(keys) and GREGORIAN_MONTHS.get(keys[j + 1]) == month:
        return j + 2
    if j < len(keys) and GREGORIAN_MONTHS.get(keys[j]) == month:
        return j + 1
    return j


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


def _mention(
    tokens: Tokens,
    first: int,
    end: int,
    value: date | None,
    parts: tuple[int, int | None, bool] | None = None,
) -> DateMention:
    start, stop = tokens.start(first), tokens.end(end - 1)
    iso = value.isoformat() if value else None
    return DateMention(tokens.text[start:stop], iso, start, stop, parts)
