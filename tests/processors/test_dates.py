"""Dates in the text, resolved against the publication time where they are relative."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from processors.dates import extract_dates

# A Wednesday.
PUBLISHED = datetime(2016, 12, 7, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "mention", "value"),
    [
        ("بدأ الجيش أمس عملية واسعة", "أمس", "2016-12-06"),
        ("يعقد المجلس اجتماعا اليوم", "اليوم", "2016-12-07"),
        ("يصل الوفد غدا إلى جنيف", "غدا", "2016-12-08"),
        ("قال الوزير يوم الاثنين إن", "الاثنين", "2016-12-05"),
        ("تعقد الجولة الخميس المقبل", "الخميس المقبل", "2016-12-08"),
        ("وقع الهجوم في 12 ديسمبر", "12 ديسمبر", "2016-12-12"),
        ("تبدأ المحادثات في 15 يناير", "15 يناير", "2017-01-15"),
        ("وقع الهجوم في 3 ديسمبر", "3 ديسمبر", "2016-12-03"),
        ("انتهت المعركة في 22 كانون الأول 2016", "22 كانون الأول 2016", "2016-12-22"),
        ("يبدأ الشهر في 1 رمضان 1438", "1 رمضان 1438", "2017-05-27"),
        ("في ٥ يونيو", "٥ يونيو", "2016-06-05"),
        ("تبدأ الإجازة في 20 ربيع الأول", "20 ربيع الأول", "2016-12-19"),
    ],
)
def test_resolved(text: str, mention: str, value: str) -> None:
    (found,) = extract_dates(text, PUBLISHED)
    assert (found.text, found.value) == (mention, value)
    assert text[found.start : found.end] == mention


def test_relative_dates_stay_text_without_a_publication_time() -> None:
    (found,) = extract_dates("بدأ الجيش أمس عملية واسعة", None)
    assert (found.text, found.value) == ("أمس", None)


def test_impossible_date_keeps_its_text() -> None:
    (found,) = extract_dates("في 31 فبراير 2016", PUBLISHED)
    assert (found.text, found.value) == ("31 فبراير 2016", None)
