"""Quantities on the real Aleppo article and on short real-style sentences."""

from __future__ import annotations

import pytest

from processors.quantities import extract_quantities, number_span


def by_unit(text: str) -> dict[str, tuple[float | None, bool]]:
    return {q.unit or "": (q.value, q.approx) for q in extract_quantities(text)}


def test_aleppo_counts(aleppo_display_text: str) -> None:
    found = by_unit(aleppo_display_text)
    assert found["غارة"] == (64, False)
    assert found["مسلح"] == (300, True)
    assert found["مدنيا"] == (21, True)
    assert found["أطفال"] == (5, False)
    assert found["مدني"] == (100_000, True)
    assert found["دبابة"] == (11, False)
    assert found["كيلومترات"][0] == 4


def test_conjunction_on_a_digit_is_not_part_of_the_number(aleppo_display_text: str) -> None:
    found = by_unit(aleppo_display_text)
    assert found["جماعات"] == (3, False)
    assert found["سيارة"] == (31, False)


@pytest.mark.parametrize(
    ("text", "value", "unit", "kind", "approx"),
    [
        ("ارتفع المؤشر بنسبة 2.5 %", 2.5, "%", "percent", False),
        ("تراجعت الصادرات 12 في المئة", 12, "%", "percent", False),
        ("بلغت قيمة الصفقة 25 ألف ليرة سورية", 25_000, "ليرة", "money", False),
        ("قدمت المملكة ٣٫٥ مليار دولار", 3_500_000_000, "دولار", "money", False),
        ("نزح ١٬٥٠٠ شخص", 1500, "شخص", "count", False),
        ("أصيب أكثر من 40 شخصا", 40, "شخصا", "count", True),
        ("قتل عشرات المدنيين", 10, "المدنيين", "count", True),
        ("وصل أربعة وزراء", 4, "وزراء", "count", False),
    ],
)
def test_number_forms(text: str, value: float, unit: str, kind: str, approx: bool) -> None:
    (quantity,) = extract_quantities(text)
    assert (quantity.value, quantity.unit, quantity.kind, quantity.approx) == (
        pytest.approx(value),
        unit,
        kind,
        approx,
    )
    assert text[quantity.start : quantity.end] == quantity.text


@pytest.mark.parametrize("text", ["وقع الهجوم في 12 ديسمبر", "تأسست الشركة عام 1990"])
def test_dates_are_not_quantities(text: str) -> None:
    assert extract_quantities(text) == []


# Forms from the Wojood sample that are not amounts.
@pytest.mark.parametrize(
    "text",
    [
        "1 . المحافظة على الأطفال",
        "رجل 1 : شو رأيك",
        "الفوار / الجزء الثاني عشر .",
        "جافا سكريبت واحد من أشهر هذه الأطر",
        "كل واحد فينا مجنون",
        "نابلس : من ( 1348 هجري )",
        "مؤشرات التنمية البشرية الرتبة 82 عالميا",
        "في الفترة من 13 وحتى 15 تشرين الثاني",
    ],
)
def test_labels_ranks_items_and_years_are_not_amounts(text: str) -> None:
    assert extract_quantities(text) == []


@pytest.mark.parametrize(
    ("text", "value", "kind", "approx"),
    [
        ("ارتفعت قيمة العقود إلى مليوني دولار", 2_000_000, "money", False),
        ("لكن الملايين يفتقرون إلى سبل العيش", 1_000_000, "count", True),
        ("يتمتع بخبرة مهنية تبلغ 8 سنوات", 8, "duration", False),
        ("امتد التدريب لثلاثة أيام", 3, "duration", False),
        ("خصص نصف مليون دولار للمشروع", 500_000, "money", False),
    ],
)
def test_more_number_forms(text: str, value: float, kind: str, approx: bool) -> None:
    (quantity,) = extract_quantities(text)
    assert (quantity.value, quantity.kind, quantity.approx) == (pytest.approx(value), kind, approx)


def test_the_number_part_leaves_out_the_approximator_and_the_noun() -> None:
    text = "نزح لنحو 100 ألف مدني"
    (quantity,) = extract_quantities(text)
    start, end = number_span(quantity)
    assert text[start:end] == "100 ألف"
