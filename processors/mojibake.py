"""Repair of Arabic text decoded with the wrong character set (mojibake).

Three confusions seen in scraped Arabic news, each repaired word by word and
only where the evidence is clear; anything else is left exactly as it was:

* UTF-8 bytes read as windows-1256: `ط§ظ„ط¹ط±ط¨ظٹط©` (every letter becomes ط or ظ
  plus a symbol);
* UTF-8 bytes read as latin-1 or windows-1252: `Ø§Ù„Ø¹Ø±Ø¨ÙŠØ©`;
* windows-1256 bytes read as latin-1 (the reverse): `ÇáÚÑÈíÉ`.

A candidate run is re-encoded with the wrong charset and decoded with the right
one; it is replaced only if that round trip succeeds strictly and gives Arabic
letters. Real Arabic or European text almost never survives the strict UTF-8
decode, which is what makes the first two safe.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Runs shorter than this many mis-decoded characters are left alone: a pair of
# symbols after ط or Ø can occur in real text by chance, three in a row do not.
MIN_MOJIBAKE_PAIRS = 3
# A word made only of accented Latin-1 letters this long is not French or
# German; it is windows-1256 Arabic read as latin-1.
MIN_LATIN1_WORD = 3
# ...and the text must hold at least this many such words before any is touched.
MIN_LATIN1_WORDS = 2


def _char_class(data: bytes, charsets: tuple[str, ...]) -> str:
    """A regex class of the characters `data`'s bytes become under any of `charsets`."""
    chars: set[str] = set()
    for charset in charsets:
        chars |= set(data.decode(charset, errors="ignore"))
    return "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"


_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))
_TWO_BYTE_LEADS = bytes(range(0xC2, 0xE0))
_THREE_BYTE_LEADS = bytes(range(0xE0, 0xF0))
# Lead bytes of U+0600-U+06FF in UTF-8: Arabic letters, marks and digits.
_ARABIC_LEADS = bytes([0xD8, 0xD9, 0xDA, 0xDB])


def _utf8_misread_patterns(charsets: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(strict, loose) patterns for UTF-8 text decoded with `charsets`.

    Strict: MIN_MOJIBAKE_PAIRS garbled Arabic characters in a row, the evidence.
    Loose: any garbled two- or three-byte character (¢, «, “, short words),
    used only in a text where the strict one already found some.
    """
    continuation = _char_class(_CONTINUATION_BYTES, charsets)
    arabic = _char_class(_ARABIC_LEADS, charsets) + continuation
    two = _char_class(_TWO_BYTE_LEADS, charsets) + continuation
    three = _char_class(_THREE_BYTE_LEADS, charsets) + continuation * 2
    strict = re.compile(f"(?:{arabic}){{{MIN_MOJIBAKE_PAIRS},}}")
    return strict, re.compile(f"(?:{two}|{three})+")


CP1256 = ("cp1256",)
LATIN1 = ("cp1252", "latin-1")
UTF8_AS_CP1256_RE, UTF8_AS_CP1256_LOOSE_RE = _utf8_misread_patterns(CP1256)
UTF8_AS_LATIN1_RE, UTF8_AS_LATIN1_LOOSE_RE = _utf8_misread_patterns(LATIN1)
_LATIN1_WORD = "(?<![A-Za-z])[\u00c0-\u00ff]{%d,}(?![A-Za-z])"
CP1256_AS_LATIN1_RE = re.compile(_LATIN1_WORD % MIN_LATIN1_WORD)
CP1256_AS_LATIN1_LOOSE_RE = re.compile(_LATIN1_WORD % 1)
# Every confusion above leaves a trace a cheap scan finds: accented Latin-1
# letters (Ø Ù Ç á ...), or ط/ظ followed by a Latin-1 or windows-125x symbol.
# A text with neither is returned at once: the common case stays cheap.
LATIN1_LETTER_RE = re.compile("[\u00c0-\u00ff]")
CP1256_PAIR_HINT_RE = re.compile(
    "[\u0637\u0638][\u0080-\u00bf\u0152\u0153\u0192\u02c6\u2013-\u203a\u20ac\u2122]"
)
ARABIC_ONLY_RE = re.compile("[\u0600-\u06ff\\s]+")


def _is_arabic(fixed: str) -> bool:
    return ARABIC_ONLY_RE.fullmatch(fixed) is not None


def _is_printable(fixed: str) -> bool:
    return fixed.isprintable() and "\ufffd" not in fixed


def _round_trip(
    run: str, wrong: tuple[str, ...], right: str, plausible: Callable[[str], bool]
) -> str | None:
    for charset in wrong:
        try:
            fixed = run.encode(charset).decode(right)
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if plausible(fixed):
            return fixed
    return None


def _repairer(
    wrong: tuple[str, ...], right: str, counter: list[int], plausible: Callable[[str], bool]
) -> Callable[[re.Match[str]], str]:
    def repair(match: re.Match[str]) -> str:
        fixed = _round_trip(match.group(), wrong, right, plausible)
        if fixed is None:
            return match.group()
        counter[0] += 1
        return fixed

    return repair


def repair_mojibake(text: str) -> tuple[str, dict[str, int]]:
    """`text` with mis-decoded Arabic words repaired, and the repairs made by kind."""
    repairs: dict[str, int] = {}
    if not (LATIN1_LETTER_RE.search(text) or CP1256_PAIR_HINT_RE.search(text)):
        return text, repairs
    passes = (
        (
            "mojibake_utf8_as_cp1256",
            UTF8_AS_CP1256_RE,
            UTF8_AS_CP1256_LOOSE_RE,
            ("cp1256",),
            "utf-8",
        ),
        (
            "mojibake_utf8_as_latin1",
            UTF8_AS_LATIN1_RE,
            UTF8_AS_LATIN1_LOOSE_RE,
            ("cp1252", "latin-1"),
            "utf-8",
        ),
    )
    for kind, strict, loose, wrong, right in passes:
        text, count = _repair_pass(text, strict, loose, wrong, right)
        if count:
            repairs[kind] = count
    if len(CP1256_AS_LATIN1_RE.findall(text)) >= MIN_LATIN1_WORDS:
        text, count = _repair_pass(
            text, CP1256_AS_LATIN1_RE, CP1256_AS_LATIN1_LOOSE_RE, ("latin-1",), "cp1256"
        )
        if count:
            repairs["mojibake_cp1256_as_latin1"] = count
    return text, repairs


def _repair_pass(
    text: str, strict: re.Pattern[str], loose: re.Pattern[str], wrong: tuple[str, ...], right: str
) -> tuple[str, int]:
    counter = [0]
    text = strict.sub(_repairer(wrong, right, counter, _is_arabic), text)
    if counter[0]:
        # A multi-byte UTF-8 sequence that decodes strictly is strong evidence
        # in a text already shown to be garbled: any printable result goes.
        text = loose.sub(_repairer(wrong, right, counter, _is_printable), text)
    return text, counter[0]
