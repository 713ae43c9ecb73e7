"""Articles for tests, built from a real sentence of Arabic news text."""

from __future__ import annotations

from datetime import UTC, datetime

from akhbar.article import Article

# From a real article as published (tests/fixtures/aleppo-article.txt), with its
# artifacts: ¢ as quotation marks, علي for على, a lost space in الولاياتالمتحدة.
ARABIC_TEXT = (
    "مؤكدا أن ¢الوقت محدود جدا. إما الاستسلام أو الموت¢ ودعا لافروف "
    "الولاياتالمتحدة إلي إقناع المسلحين بالخروج من حلب."
)


def make_article(n: int, text_bytes: int = 0) -> Article:
    """Article number `n`; with `text_bytes`, text padded to about that many bytes."""
    text = ARABIC_TEXT
    if text_bytes:
        unit = len(ARABIC_TEXT.encode())
        text = " ".join([ARABIC_TEXT] * max(1, text_bytes // unit))
    return Article.create(
        f"https://news.example/story/{n}",
        source="example",
        title=f"خبر رقم {n}",
        text=text,
        fetched_at=datetime(2026, 11, 27, 8, 0, tzinfo=UTC),
    )
