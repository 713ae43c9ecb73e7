"""Numbers and quantities: counts, measures, money and percentages, with what they count.

Found by rules over the search form of each token (digits in any script, number
words, multipliers, approximators), so `لنحو 100 ألف مدني` gives value 100000,
unit `مدني`, approximate. Years after عام/سنة and day numbers before a month
name belong to dates and are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from processors.entities import WORD_KEY_CACHE, split_proclitic
from processors.tokens import Tokens

# Number words in search form, with their values; plural tens-and-hundreds words
# (عشرات, مئات) are vague amounts: their value is the lower bound, marked approximate.
UNITS = {
    "واحد": 1,
    "واحده": 1,
    "اثنان": 2,
    "اثنين": 2,
    "اثنتان": 2,
    "اثنتين": 2,
    "ثلاث": 3,
    "ثلاثه": 3,
    "اربع": 4,
    "اربعه": 4,
    "خمس": 5,
    "خمسه": 5,
    "ست": 6,
    "سته": 6,
    "سبع": 7,
    "سبعه": 7,
    "ثماني": 8,
    "ثمانيه": 8,
    "ثمان": 8,
    "تسع": 9,
    "تسعه": 9,
    "عشر": 10,
    "عشره": 10,
    "عشرون": 20,
    "عشرين": 20,
    "ثلاثون": 30,
    "ثلاثين": 30,
    "اربعون": 40,
    "اربعين": 40,
    "خمسون": 50,
    "خمسين": 50,
    "ستون": 60,
    "ستين": 60,
    "سبعون": 70,
    "سبعين": 70,
    "ثمانون": 80,
    "ثمانين": 80,
    "تسعون": 90,
    "تسعين": 90,
    "مئه": 100,
    "مائه": 100,
    "مئتان": 200,
    "مئتين": 200,
    "مائتان": 200,
    "مائتين": 200,
    "الف": 1000,
    "الفان": 2000,
    "الفين": 2000,
    "مليون": 10**6,
    "مليار": 10**9,
    # Duals: مليوني دولار is two million dollars.
    "مليونان": 2 * 10**6,
    "مليونين": 2 * 10**6,
    "مليوني": 2 * 10**6,
    "ملياران": 2 * 10**9,
    "مليارين": 2 * 10**9,
    "ملياري": 2 * 10**9,
    # After the counted noun, with the article: الديانات الثلاث.
    "الثلاث": 3,
    "الثلاثه": 3,
    "الاربع": 4,
    "الاربعه": 4,
    "الخمس": 5,
    "الخمسه": 5,
    "التسع": 9,
    "التسعه": 9,
    "العشر": 10,
    "العشره": 10,
    # Fractions, mostly before a multiplier: نصف مليون دولار.
    "نصف": 0.5,
    "ثلث": 1 / 3,
}
VAGUE = {
    "عشرات": 10,
    "مئات": 100,
    "الاف": 1000,
    "الوف": 1000,
    "ملايين": 10**6,
    "مليارات": 10**9,
    "بضعه": 3,
    "بضع": 3,
    "العشرات": 10,
    "المئات": 100,
    "الالاف": 1000,
    "الملايين": 10**6,
}
# Words that multiply the number before them: `100 ألف` is 100000.
MULTIPLIERS = {
    "الف": 1000,
    "الاف": 1000,
    "مليون": 10**6,
    "ملايين": 10**6,
    "مليار": 10**9,
    "مليارات": 10**9,
    "بليون": 10**9,
}
# Approximators before a number, as token sequences in search form.
APPROXIMATORS = (
    ("ما", "لا", "يقل", "عن"),
    ("ما", "يزيد", "علي"),
    ("ما", "يزيد", "عن"),
    ("ما", "يقرب", "من"),
    ("اكثر", "من"),
    ("اقل", "من"),
    ("اكثر", "من"),
    ("نحو",),
    ("زهاء",),
    ("حوالي",),
    ("قرابه",),
    ("قرابة",),
    ("حوالى",),
)
CURRENCIES = (
    "دولار",
    "ريال",
    "جنيه",
    "يورو",
    "درهم",
    "دينار",
    "ليره",
    "ين",
    "روبل",
    "استرليني",
    "فرنك",
    "دولارا",
    "دولارات",
    "ريالا",
    "ريالات",
    "جنيها",
    "دراهم",
)
PERCENT_WORDS = (("في", "المئه"), ("في", "المائه"), ("بالمئه",), ("بالمائه",))
PERCENT_SIGNS = ("%", "٪")
# 12/5/1948 and 2014-2015 are dates and periods, not amounts.
DATE_SEPARATORS = ("/", "-")
# A bare four-digit number in this range is read as a year.
YEARS = (1800, 2100)
# Numbers that name rather than count: رقم 61, المادة 103, العدد 6.
IDENTIFIER_LEADS = frozenset(
    (
        "رقم",
        "برقم",
        "الماده",
        "ماده",
        "الفقره",
        "فقره",
        "العدد",
        "ص",
        "صفحه",
        "البند",
        "بند",
        "القرار",
        "الجزء",
        "اوسلو",
        "رقمها",
        "رقمه",
        "الرتبه",
        "المرتبه",
        "القسم",
        "جزء",
        "مشهد",
        "الحلقه",
        "المواد",
        "عدد",
    )
)
# Marks after a number that make it a label or a list item, not an amount: رجل 1 :
LABEL_MARKS = frozenset((":", "."))
# Ordinal words that `عشر` completes (الثاني عشر): the number is a rank.
ORDINAL_TENS_LEADS = frozenset(
    ("الحادي", "الثاني", "الثالث", "الرابع", "الخامس", "السادس", "السابع", "الثامن", "التاسع")
    + ("الحاديه", "الثانيه", "الثالثه", "الرابعه", "الخامسه", "السادسه", "السابعه")
    + ("الثامنه", "التاسعه")
)
# `واحد من` is one of several, `كل واحد` each one: pronouns, not amounts.
ONE_OF_NEXT = frozenset(("من", "منهم", "منهن", "منها"))
ONE_OF_BEFORE = frozenset(("كل", "لكل", "وكل"))
# Words after a year that say it is one: 1348 هجري.
YEAR_MARKS = frozenset(("هجري", "هجريه", "ه", "هـ", "م", "ميلادي", "ميلاديه"))
# Hijri years: alone in brackets they are dates (1332).
HIJRI_YEARS = (1300, 1500)
# Words joining the two ends of a range of days: 13 وحتى 15 تشرين الثاني.
RANGE_WORDS = frozenset(("الي", "حتي", "وحتي", "-"))
# Units of time: a number of them is a duration, its own kind.
TIME_UNITS = frozenset(
    ("ثانيه", "ثوان", "ثواني", "دقيقه", "دقائق", "دقيقتين", "ساعه", "ساعات", "ساعتين", "يوم")
    + ("يوما", "ايام", "يومين", "اسبوع", "اسابيع", "اسبوعين", "شهر", "اشهر", "شهور", "شهرا")
    + ("شهرين", "سنه", "سنوات", "سنين", "سنتين", "عام", "عاما", "اعوام", "عامين", "عقد")
    + ("عقود", "قرن", "قرون")
)
DATE_LEAD_WORDS = ("عام", "العام", "سنه", "السنه", "لعام", "منذ")
MONTHS = frozenset(
    (
        "يناير",
        "فبراير",
        "مارس",
        "ابريل",
        "مايو",
        "يونيو",
        "يوليو",
        "اغسطس",
        "سبتمبر",
        "اكتوبر",
        "نوفمبر",
        "ديسمبر",
        "كانون",
        "شباط",
        "اذار",
        "نيسان",
        "ايار",
        "حزيران",
        "تموز",
        "اب",
        "ايلول",
        "تشرين",
        "محرم",
        "صفر",
        "ربيع",
        "جمادي",
        "رجب",
        "شعبان",
        "رمضان",
        "شوال",
        "القعده",
        "الحجه",
        "ذو",
        "ذي",
    )
)
# A conjunction or preposition written onto a number: و3 جماعات, ب50 دولارا.
NUMBER_PROCLITICS = ("و", "ب", "ل", "ف")
# Function words never taken as the counted noun.
NOT_UNITS = frozenset(("من", "في", "علي", "الي", "عن", "و", "او", "ثم", "قد", "ان", "الذي"))


@dataclass(frozen=True)
class Quantity:
    """One number in a text: what it counts, how much, whether approximately."""

    text: str
    value: float | None
    unit: str | None
    approx: bool
    kind: str  # count, money, percent or duration
    start: int
    end: int


def extract_quantities(text: str, tokens: Tokens | None = None) -> list[Quantity]:
    """Every number mention in `text`, left to right; `tokens` are its tokens when made."""
    tokens = tokens or Tokens.of(text)
    found = []
    position = 0
    for i in tokens.where(_starts_number):
        if i < position:
            continue  # part of the quantity before
        quantity, position = _quantity_at(tokens, i)
        if quantity is not None:
            found.append(quantity)
    return found


@lru_cache(maxsize=WORD_KEY_CACHE)
def _number_value(key: str) -> tuple[float | None, bool]:
    """(value, vague) of one token key, or (None, False) when it is not a number."""
    if key[:1] in NUMBER_PROCLITICS and key[1:2].isdigit():
        key = key[1:]
    if key[:1].isdigit():
        try:
            return float(key.replace(",", "")), False
        except ValueError:
            return None, False
    clitic, stem = split_proclitic(key)
    for word in (key, stem) if clitic in ("", "و", "ب", "ل") else (key,):
        if word in UNITS:
            return float(UNITS[word]), False
        if word in VAGUE:
            return float(VAGUE[word]), True
    return None, False


@lru_cache(maxsize=WORD_KEY_CACHE)
def _starts_number(key: str) -> bool:
    return _number_value(key)[0] is not None


def _quantity_at(tokens: Tokens, i: int) -> tuple[Quantity | None, int]:
    keys = tokens.keys
    value, vague = _number_value(keys[i])
    if value is None:
        return None, i + 1
    first = i
    j = i + 1
    # Multipliers after the number: 100 ألف, 2.5 مليار.
    while j < len(keys) and keys[j] in MULTIPLIERS:
        value *= MULTIPLIERS[keys[j]]
        j += 1
    while j + 1 < len(keys) and keys[j].startswith("و") and _is_number_word(keys[j]):
        more, _ = _number_value(keys[j])
        value += more or 0
        j += 1
    if _is_date_or_name(keys, first, j):
        return None, j
    approx, first = _approximator_before(keys, first)
    unit, kind, j = _unit_after(tokens, j)
    start, end = tokens.start(first), tokens.end(j - 1)
    quantity = Quantity(
        text=tokens.text[start:end],
        value=value,
        unit=unit,
        approx=approx or vague,
        kind=kind,
        start=start,
        end=end,
    )
    return quantity, j


def _is_number_word(key: str) -> bool:
    return _starts_number(key) and not key[:1].isdigit()


def _is_date_or_name(keys: Sequence[str], first: int, after: int) -> bool:
    """Whether the number at `first` names a day, year, rank, label or item, not an amount."""
    lead = first - 1 if first > 0 and keys[first - 1] != "(" else first - 2
    before = keys[lead] if lead >= 0 else ""
    following = keys[after] if after < len(keys) else ""
    key = keys[first]
    if before in IDENTIFIER_LEADS or _is_rank_or_pronoun(keys, first, after):
        return True
    if key.isdigit() and (following in LABEL_MARKS or following == ")") and _opens_line(keys, lead):
        return True  # a list item: 1. or 2)
    if key.isdigit() and following in YEAR_MARKS:
        return True
    year_like = key.isdigit() and YEARS[0] <= int(key) <= YEARS[1] and after == first + 1
    bracketed_hijri = (
        key.isdigit()
        and HIJRI_YEARS[0] <= int(key) <= HIJRI_YEARS[1]
        and keys[first - 1 : first] == ["("]
        and following == ")"
    )
    return (
        split_proclitic(following)[1] in MONTHS
        or following in MONTHS
        or before in DATE_LEAD_WORDS
        or before in DATE_SEPARATORS
        or following in DATE_SEPARATORS
        or bracketed_hijri
        or _starts_day_range(keys, after)
        or (year_like and following not in PERCENT_SIGNS and not following.startswith(CURRENCIES))
        or (key.isdigit() and following == ":" and before not in ("", "."))
    )


def _opens_line(keys: Sequence[str], lead: int) -> bool:
    return lead < 0 or keys[lead] in (".", ":", "،")


def _is_rank_or_pronoun(keys: Sequence[str], first: int, after: int) -> bool:
    """الثاني عشر is a rank; واحد من and كل واحد are pronouns."""
    before = keys[first - 1] if first > 0 else ""
    following = keys[after] if after < len(keys) else ""
    if keys[first] in ("عشر", "عشره") and before in ORDINAL_TENS_LEADS:
        return True
    one = _number_value(keys[first])[0] == 1 and not keys[first][:1].isdigit()
    return one and (following in ONE_OF_NEXT or before in ONE_OF_BEFORE)


def _starts_day_range(keys: Sequence[str], after: int) -> bool:
    """Whether a range word and a day of a month follow: 13 وحتى 15 تشرين."""
    if after + 2 >= len(keys) or keys[after] not in RANGE_WORDS:
        return False
    following = keys[after + 2]
    return keys[after + 1].isdigit() and (
        following in MONTHS or split_proclitic(following)[1] in MONTHS
    )


def _approximator_before(keys: Sequence[str], first: int) -> tuple[bool, int]:
    if first == 0 or keys[first - 1] not in _approximator_ends():
        return False, first  # the common case, decided by one look-up
    for phrase in APPROXIMATORS:
        start = first - len(phrase)
        if start < 0:
            continue
        # The phrase may carry a preposition: لنحو, بحوالي.
        if keys[start + 1 : first] == list(phrase[1:]) and keys[start] in _with_clitics(phrase[0]):
            return True, start
    return False, first


@lru_cache(maxsize=1)
def _approximator_ends() -> frozenset[str]:
    """Every word an approximator can end with, its preposition included."""
    ends: set[str] = set()
    for phrase in APPROXIMATORS:
        ends.update(_with_clitics(phrase[0]) if len(phrase) == 1 else (phrase[-1],))
    return frozenset(ends)


def _with_clitics(word: str) -> tuple[str, ...]:
    return (word, "ل" + word, "ب" + word, "و" + word, "ف" + word)


def _unit_after(tokens: Tokens, j: int) -> tuple[str | None, str, int]:
    keys = tokens.keys
    if j >= len(keys):
        return None, "count", j
    key = keys[j]
    if key in PERCENT_SIGNS:
        return "%", "percent", j + 1
    for phrase in PERCENT_WORDS:
        if keys[j : j + len(phrase)] == list(phrase):
            return "%", "percent", j + len(phrase)
    word = tokens.word(j)
    if not word[:1].isalpha() or key in NOT_UNITS or _is_number_word(key):
        return None, "count", j
    if key.startswith(CURRENCIES):
        kind = "money"
    elif key in TIME_UNITS or split_proclitic(key)[1] in TIME_UNITS:
        kind = "duration"
    else:
        kind = "count"
    return word, kind, j + 1


def number_span(quantity: Quantity) -> tuple[int, int]:
    """Offsets of the number alone in a quantity (`100 ألف` of `لنحو 100 ألف مدني`):
    what corpora that leave out the counted noun and the approximator mark."""
    tokens = Tokens.of(quantity.text)
    numbers = [i for i, key in enumerate(tokens.keys) if _starts_number(key) or key in MULTIPLIERS]
    if not numbers:
        return quantity.start, quantity.end
    return quantity.start + tokens.start(numbers[0]), quantity.start + tokens.end(numbers[-1])
