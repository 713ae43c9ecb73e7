"""Fixtures for the processing steps: real article text in its normalized form."""

from __future__ import annotations

from pathlib import Path

import pytest

from processors.normalize import display_form

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@pytest.fixture(scope="session")
def aleppo_text() -> str:
    return (FIXTURES / "aleppo-article.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def aleppo_display_text(aleppo_text: str) -> str:
    return display_form(aleppo_text, True, {})
