"""Arabic text forms: display and search, script check, sentences and tokens.

Pure functions on strings, used by processors/normalize.py. None of them raises
on any Unicode string; each form is idempotent (applying it twice changes
nothing more) and keeps every digit and every non-Arabic letter.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from camel_tools.utils.dediac import dediac_ar
from camel_tools.utils.normalize import (
    normalize_alef_ar,
    normalize_alef_maksura_ar,
    normalize_teh_marbuta_ar,
)

# Compatibility mappings that only change how a character is drawn, not what it
# says: Arabic presentation forms, full-width forms, ligatures, no-break spaces.
# Superscripts, fractions and circled or squared forms stay: NFKC would turn
# `m²` into `m2` and `½` into `1⁄2`, changing the number a reader sees.
SAFE_COMPAT_TAGS = frozenset(
    {"<initial>", "<medial>", "<final>", "<isolated>", "<wide>", "<narrow>", "<noBreak>"}
)
# Ligatures under <compat>, and the Arabic ones among them in particular (ﷲ, ﷺ), are
# safe; the other <compat> mappings (ellipsis, spacing accents, ㎏) are left alone.
SAFE_COMPAT_RANGES = ((0xFB00, 0xFB06), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))

# Format characters that only steer rendering and get in the way of matching:
# bidi marks and embeddings, zero-width space, soft hyphen, byte-order mark, and
# the tatweel that stretches a word. ZWJ and ZWNJ stay: Persian and Urdu names need them.
INVISIBLE_CHARS = (
    "\u00ad\u061c\u0640\u200b\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2066\u2067\u2068\u2069\ufeff"
)
LINE_BREAKS_RE = re.compile("\r\n|[\r\x0b\x0c\x85\u2028\u2029]")
# Space characters other than the plain space and the line break (tab, no-break
# and thin spaces...). Each clean-up below runs only when its cheap check finds
# work: a pattern run over every word of every article costs more than the rest.
OTHER_SPACES_RE = re.compile(
    "[\t\x0b\x0c\r\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
)  # every character str.isspace() knows but the space and the line break
SPACE_RUNS_RE = re.compile(" {2,}")
SPACE_AROUND_NEWLINE_RE = re.compile(r" \n ?|\n ")
BLANK_LINES_RE = re.compile(r"\n{3,}")

ARABIC_LETTER_RE = re.compile("[\u0620-\u064a\u066e-\u06d3\u06d5\u06fa-\u06ff\u0750-\u077f]")
# Runs, not single letters, are counted: one match per word instead of per letter.
ARABIC_LETTERS_RE = re.compile(f"{ARABIC_LETTER_RE.pattern}+")
# `¢` standing for quotation marks (a code-page artifact of some Egyptian outlets):
# a pair on one line around text with an Arabic letter. A lone `¢` is a cent sign.
CENT_QUOTE_RE = re.compile(r"¢(?=\S)([^¢\n]*?[^\s¢])¢")
# Straight and curly double quotes, paired on one line around Arabic text.
DOUBLE_QUOTE_RE = re.compile(
    '["\u201c\u201d\u201e\u201f]([^"\u201c\u201d\u201e\u201f\n]+)["\u201c\u201d\u201e\u201f]'
)

ARABIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"
PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
DIGITS_TO_ASCII = str.maketrans(ARABIC_DIGITS + PERSIAN_DIGITS, "0123456789" * 2)
# str.translate walks every character of a long Arabic text; only digit runs are
# translated instead.
EASTERN_DIGITS_RE = re.compile(f"[{ARABIC_DIGITS}{PERSIAN_DIGITS}]+")
# Arabic decimal and thousands separators, written as the ASCII ones between digits
# in the search form so `٣٫٥` and `3.5` match; the display form keeps them.
DECIMAL_SEPARATOR_RE = re.compile(r"(?<=\d)\u066b(?=\d)")
THOUSANDS_SEPARATOR_RE = re.compile(r"(?<=\d)\u066c(?=\d)")

# A text is Arabic when at least this share of its letters are Arabic-script
# letters; news in Arabic quotes Latin names, but rarely more than that.
MIN_ARABIC_LETTER_SHARE = 0.5
# Letters of Persian and Urdu that Arabic does not use (پ چ ژ ک گ ی ے ٹ ڈ ڑ ں ھ):
# above this share of the Arabic-script letters, the text is in another language.
NON_ARABIC_LETTERS_RE = re.compile(
    "[\u067e\u0686\u0698\u06a9\u06af\u06cc\u06d2\u0679\u0688\u0691\u06ba\u06be]"
)
MAX_NON_ARABIC_LETTER_SHARE = 0.02
# The script of an article is plain from its first few paragraphs; reading
# further only costs time.
SCRIPT_SAMPLE_CHARS = 600
LETTERS_RE = re.compile(r"[^\W\d_]+")
# Arabic letters proper, every one a letter: when they are at least half of the
# non-space characters they are at least half of the letters, and the costlier
# count of all letters is not needed.
CORE_ARABIC_LETTERS_RE = re.compile("[\u0621-\u063a\u0641-\u064a]+")
LATIN_LETTERS_RE = re.compile("[A-Za-z]+")

# A word or number: letters, digits and the Arabic marks inside words.
TOKEN_RE = re.compile("[^\\W_][\\w\u064b-\u065f\u0670]*")

# Sentence ends: terminal punctuation followed by a space or the end, or a line break.
SENTENCE_END_RE = re.compile(r"[.!?؟…]+[»\"')\]]*(?=\s|$)|\n")


# Characters clean_characters never changes: printable ASCII, tab and line
# break, and the Arabic block save the letter mark and tatweel. One scan for
# anything else finds the few characters worth a look.
UNCHANGED_CHARS = "\t\n\x20-\x7e\u0600-\u061b\u061d-\u063f\u0641-\u06ff"
MAYBE_CHANGED_RE = re.compile(f"[^{UNCHANGED_CHARS}]")
KEPT_CONTROLS = "\n\t\r\x0b\x0c\x85"


@cache
def _cleaned_char(char: str) -> str:
    """What clean_characters makes of one character: itself, its safe compatibility form, or ''.

    Decided per character on first sight rather than for all of Unicode at
    start-up, which took a second of every process's start.
    """
    if char in INVISIBLE_CHARS:
        return ""
    category = unicodedata.category(char)
    if category == "Cs" or (category == "Cc" and char not in KEPT_CONTROLS):
        return ""
    decomposition = unicodedata.decomposition(char)
    if not decomposition.startswith("<"):
        return char
    tag = decomposition.split(" ", 1)[0]
    in_safe_range = any(lo <= ord(char) <= hi for lo, hi in SAFE_COMPAT_RANGES)
    if tag in SAFE_COMPAT_TAGS or (tag == "<compat>" and in_safe_range):
        return unicodedata.normalize("NFKC", char)
    return char


def _translate(text: str) -> str:
    # Most characters map to themselves: only the distinct characters the scan
    # finds are looked up, and the text is rewritten only when one changes.
    maybe = set(MAYBE_CHANGED_RE.findall(text))
    if all(_cleaned_char(c) == c for c in maybe):
        return text
    return MAYBE_CHANGED_RE.sub(lambda m: _cleaned_char(m.group()), text)


def clean_characters(text: str) -> str:
    """NFC, safe compatibility forms, invisible and control characters removed."""
    text = unicodedata.normalize("NFC", text)
    # A mapping can produce a character that maps again or composes anew (ﷺ
    # spells a phrase with its own ligatures): repeat until nothing changes.
    for _ in range(3):
        cleaned = unicodedata.normalize("NFC", _translate(text))
        if cleaned == text:
            break
        text = cleaned
    return text


def clean_whitespace(text: str) -> str:
    """One space between words, no space at line ends, at most one blank line."""
    if OTHER_SPACES_RE.search(text):  # the line-break characters are among them
        text = LINE_BREAKS_RE.sub("\n", text)
        text = OTHER_SPACES_RE.sub(" ", text)
    if "  " in text:
        text = SPACE_RUNS_RE.sub(" ", text)
    if " \n" in text or "\n " in text:
        text = SPACE_AROUND_NEWLINE_RE.sub("\n", text)
    if "\n\n\n" in text:
        text = BLANK_LINES_RE.sub("\n\n", text)
    return text.strip()


def unify_quotes(text: str) -> tuple[str, int]:
    """`¢…¢` and paired `"…"`/`“…”` around Arabic text become `«…»`; returns the count."""
    count = 0

    def to_guillemets(match: re.Match[str]) -> str:
        nonlocal count
        if not ARABIC_LETTER_RE.search(match.group(1)):
            return match.group()
        count += 1
        return f"«{match.group(1)}»"

    text = CENT_QUOTE_RE.sub(to_guillemets, text)
    text = DOUBLE_QUOTE_RE.sub(to_guillemets, text)
    return text, count


def search_form(text: str) -> str:
    """The form for matching: no diacritics, alef variants as ا, ى as ي, ة as ه, ASCII digits.

    Colloquial spellings meet the standard ones here (`علي` and `على` both become
    `علي`, `قتلي` and `قتلى` both `قتلي`). Expects a display form as input.
    """
    folded = normalize_alef_ar(dediac_ar(text))
    folded = normalize_teh_marbuta_ar(normalize_alef_maksura_ar(folded))
    folded = EASTERN_DIGITS_RE.sub(lambda m: m.group().translate(DIGITS_TO_ASCII), folded)
    if "\u066b" in folded:
        folded = DECIMAL_SEPARATOR_RE.sub(".", folded)
    if "\u066c" in folded:
        folded = THOUSANDS_SEPARATOR_RE.sub(",", folded)
    return folded


@dataclass(frozen=True)
class ScriptCheck:
    """What a text is written in: dominant script and whether it reads as Arabic."""

    script: str  # "Arab", "Latn", "other", or "none" when it has no letters
    is_arabic: bool


def check_script(text: str) -> ScriptCheck:
    """Classify `text` by its letters; Persian and Urdu are Arabic script but not Arabic."""
    text = text[:SCRIPT_SAMPLE_CHARS]
    core = _run_length(CORE_ARABIC_LETTERS_RE, text)
    non_space = len(text) - text.count(" ") - text.count("\n")
    if core and core >= MIN_ARABIC_LETTER_SHARE * non_space:
        return _arabic_script(text, _run_length(ARABIC_LETTERS_RE, text))
    letters = _run_length(LETTERS_RE, text)
    if letters == 0:
        return ScriptCheck("none", False)
    arabic = _run_length(ARABIC_LETTERS_RE, text)
    latin = _run_length(LATIN_LETTERS_RE, text)
    if arabic / letters >= MIN_ARABIC_LETTER_SHARE:
        return _arabic_script(text, arabic)
    return ScriptCheck("Latn" if latin >= letters - arabic - latin else "other", False)


def _arabic_script(text: str, arabic: int) -> ScriptCheck:
    foreign = len(NON_ARABIC_LETTERS_RE.findall(text))
    return ScriptCheck("Arab", foreign / arabic <= MAX_NON_ARABIC_LETTER_SHARE)


def _run_length(pattern: re.Pattern[str], text: str) -> int:
    return sum(map(len, pattern.findall(text)))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) character offsets of the sentences of `text`.

    A sentence ends at . ! ? ؟ … followed by a space, or at a line break, but
    not inside «…» (a quoted passage keeps its own full stops) and not after
    a one-letter abbreviation.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    quoted = "«" in text
    for match in SENTENCE_END_RE.finditer(text):
        end = match.end()
        if match.group() != "\n":
            if quoted and text.count("«", start, end) > text.count("»", start, end):
                continue
            if _ends_with_initial(text, start, end):
                continue
        _add_span(text, start, end, spans)
        start = end
    _add_span(text, start, len(text), spans)
    return spans


def _ends_with_initial(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] ends in a one-letter abbreviation (`د.` for Dr.)."""
    if end - start < 2 or text[end - 1] != ".":
        return False
    letter = text[end - 2]
    if not (letter.isalnum() or letter == "_"):  # what \w matches
        return False
    return end - start == 2 or text[end - 3].isspace()


def _add_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    """Append text[start:end] without its surrounding whitespace, if anything is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))


def count_tokens(text: str) -> int:
    """Words and numbers in `text`, punctuation not counted.

    The same count as the word and number tokens of camel-tools'
    simple_word_tokenize (tests check that on real text), with one C-level
    regex instead of its per-character loop, which took over a third of the
    step's time.
    """
    return len(TOKEN_RE.findall(text))
