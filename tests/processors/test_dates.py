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
        # Real SaudiNewsNet forms (benchmarks/labels/dates.jsonl), moved to this date.
        ("أعلن الاتحاد اليوم الثلاثاء أسماء الحكام", "اليوم الثلاثاء", "2016-12-06"),
        ("أطلقت فيسبوك ميزات أمس الثلاثاء", "أمس الثلاثاء", "2016-12-06"),
        ("بدأت مراسم الاحتفال اليوم (الأربعاء) وسط", "اليوم (الأربعاء)", "2016-12-07"),
        ("منح اللاعبين راحة امس «الثلاثاء» نظير", "امس «الثلاثاء»", "2016-12-06"),
        ("يبدأ الدوري غدًا الخميس", "غدًا الخميس", "2016-12-08"),
        ("دشنت الجامعة أول من أمس البرنامج", "أول من أمس", "2016-12-05"),
        ("في نسختها الصادرة أمس الأول", "أمس الأول", "2016-12-05"),
        ("بنهاية تداولات الأمس", "الأمس", "2016-12-06"),
        ("في التاسع عشر من شهر ديسمبر", "التاسع عشر من شهر ديسمبر", "2016-12-19"),
        ("ليلة العاشر من ذي الحجة 1437", "العاشر من ذي الحجة 1437", "2016-09-11"),
        ("وصولهما خلال الفترة 18 من ديسمبر كانون الأول", "18 من ديسمبر", "2016-12-18"),
        ("في 12 آب/أغسطس 2016", "12 آب/أغسطس 2016", "2016-08-12"),
        ("المقررة في 15/9/1436ه للمتقدمات", "15/9/1436ه", "2015-07-02"),
        ("في الفترة 21 / 8/ 2015 حيث", "21 / 8/ 2015", "2015-08-21"),
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


def test_the_first_day_of_a_range_takes_the_month_of_the_second() -> None:
    found = extract_dates("خلال الفترة من 15 إلى 18 من ديسمبر", PUBLISHED)
    assert [(d.text, d.value) for d in found] == [
        ("15", "2016-12-15"),
        ("18 من ديسمبر", "2016-12-18"),
    ]


def test_a_paper_named_today_is_not_a_date() -> None:
    assert extract_dates("وفي حديث ل«اليوم» قالت الدكتورة", PUBLISHED) == []


def test_an_ordinal_without_a_month_is_not_a_date() -> None:
    assert extract_dates("فاز الفريق بالمركز الثالث في البطولة", PUBLISHED) == []
