"""Charts are SVG drawn on the server: bars to scale, figures readable as text, nothing injected."""

from __future__ import annotations

import re
from datetime import date
from xml.etree import ElementTree

import pytest

from services.portal import i18n
from services.portal.charts import Bar, bar_chart
from services.portal.partner import points_per_month

pytestmark = pytest.mark.fast
SVG = "{http://www.w3.org/2000/svg}"


def test_bars_are_drawn_to_scale_with_their_figures_as_text() -> None:
    svg = ElementTree.fromstring(
        str(bar_chart([Bar("Jan", 50), Bar("Feb", 100), Bar("Mar", 0)], title="Points"))
    )
    assert svg.get("role") == "img" and svg.findtext(f"{SVG}title") == "Points"
    heights = [float(rect.get("height", "nan")) for rect in svg.iter(f"{SVG}rect")]
    assert heights[1] == pytest.approx(2 * heights[0]) and heights[2] == 0
    assert [g.findtext(f"{SVG}title") for g in svg.iter(f"{SVG}g")] == ["Jan: 50", "Feb: 100", "Mar: 0"]


def test_labels_cannot_inject_markup_and_an_empty_chart_draws_nothing() -> None:
    drawn = str(bar_chart([Bar("<script>alert(1)</script>", 3)], title="<b>t</b>"))
    assert "<script>" not in drawn and "&lt;script&gt;" in drawn and "<b>" not in drawn
    assert str(bar_chart([], title="nothing")) == ""
    assert not re.search(
        r"style=", str(bar_chart([Bar("a", 1)], title="t"))
    )  # the CSP allows no inline style


def test_points_per_month_counts_earnings_in_the_tenants_time_zone() -> None:
    i18n.use("en", i18n.load_translations())
    entries = [
        {"kind": "earn", "points": 10, "created_at": "2026-11-30T23:30:00+00:00"},  # 1 December in Paris
        {"kind": "earn", "points": 5, "created_at": "2026-11-15T10:00:00+00:00"},
        {"kind": "reverse", "points": -5, "created_at": "2026-11-16T10:00:00+00:00"},
        {"kind": "earn", "points": 7, "created_at": "2025-01-15T10:00:00+00:00"},  # too old to show
    ]
    bars = points_per_month(entries, "Europe/Paris", date(2026, 12, 4), months=3)
    assert bars == [Bar("Oct 2026", 0), Bar("Nov 2026", 5), Bar("Dec 2026", 10)]
