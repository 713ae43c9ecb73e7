"""Arabic normalization: `articles.cleaned` -> `articles.normalized`.

The article's `text` and `title` stay exactly as received. The step adds:

* `display_text` / `display_title`: for reading and for extraction. Mojibake
  repaired, safe compatibility forms folded (presentation forms, full-width),
  invisible and control characters and tatweel removed, whitespace tidied,
  `¢…¢` and paired double quotes around Arabic made `«…»`, words run together
  by a lost space split. The outlet's spelling, Arabic punctuation and the
  separators ٫ ٬ are kept.
* `search_text` / `search_title`: for dedup keys, gazetteer matching and the
  search index: the display form without diacritics, with alef variants as ا,
  ى as ي, ة as ه, and Arabic-Indic and Persian digits as ASCII.
* `sentences` (character offsets into `display_text`), `token_count`,
  `script` and `is_arabic`, and `repairs` (what was repaired, how often).

An article whose text is not Arabic (by its letters) gets `is_arabic=False`
and only the script-neutral clean-up; the Arabic repairs are not applied.
"""

from __future__ import annotations

from akhbar.article import Article, TextSpan
from processors.arabic import (
    check_script,
    clean_characters,
    clean_whitespace,
    count_tokens,
    search_form,
    sentence_spans,
    unify_quotes,
)
from processors.mojibake import repair_mojibake
from processors.wordsplit import load_lexicon

NAME = "normalize"
VERSION = "1"


def normalize(article: Article) -> Article:
    """Add the display and search forms and the text facts; never raises on text."""
    repairs: dict[str, int] = {}
    text, text_repairs = repair_mojibake(article.text)
    title, title_repairs = repair_mojibake(article.title or "")
    _merge(repairs, text_repairs)
    _merge(repairs, title_repairs)
    script = check_script(f"{title}\n{text}")
    display_text = display_form(text, script.is_arabic, repairs)
    display_title = display_form(title, script.is_arabic, repairs)
    return article.model_copy(
        update={
            "display_text": display_text,
            "search_text": search_form(display_text),
            "display_title": display_title if article.title is not None else None,
            "search_title": search_form(display_title) if article.title is not None else None,
            "sentences": [TextSpan(start=s, end=e) for s, e in sentence_spans(display_text)],
            "token_count": count_tokens(display_text),
            "script": script.script,
            "is_arabic": script.is_arabic,
            "repairs": repairs,
        }
    )


def display_form(text: str, arabic: bool, repairs: dict[str, int]) -> str:
    """The display form of `text`; counts what it repaired into `repairs`."""
    text = clean_whitespace(clean_characters(text))
    if not arabic:
        return text
    text, quotes = unify_quotes(text)
    text, splits = load_lexicon().repair(text)
    _merge(repairs, {"quotes_unified": quotes, "words_split": splits})
    return text


def _merge(total: dict[str, int], more: dict[str, int]) -> None:
    for kind, count in more.items():
        if count:
            total[kind] = total.get(kind, 0) + count
