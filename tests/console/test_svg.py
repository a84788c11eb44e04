"""The console's SVG charts and the trend's weeks: properties over any values."""

import itertools
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.console import svg
from app.reconciliation.trends import mondays, week_bounds

SVG = "{http://www.w3.org/2000/svg}"
amounts = st.decimals(min_value=0, max_value=Decimal(10) ** 6, places=3, allow_nan=False,
                      allow_infinity=False)  # fmt: skip
names = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=60)
"""What a name may hold (control characters are no part of one, and XML has none)."""


def drawn(chart: str) -> tuple[float, float, list[ET.Element]]:
    """The chart's width and height (its viewBox) and its rectangles."""
    root = ET.fromstring(chart)  # noqa: S314 (our own chart, not untrusted)
    _, _, width, height = map(float, root.attrib["viewBox"].split())
    return width, height, list(root.iter(f"{SVG}rect"))


def inside(rect: ET.Element, width: float, height: float) -> bool:
    x, y, w, h = (float(rect.attrib[k]) for k in ("x", "y", "width", "height"))
    return w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= width + 1e-6 and y + h <= height


@given(value=amounts, maximum=amounts, length=st.floats(min_value=1, max_value=2000))
def test_a_scaled_length_lies_between_zero_and_the_charts_length(value, maximum, length):
    scaled = svg.Scale(maximum, length)(value)
    assert 0 <= scaled <= length
    assert (scaled == 0) == (value == 0 or maximum == 0)
    if value > 0 and maximum > 0:
        assert scaled >= 1  # a pixel at least: a small amount is not drawn as none


@given(value=amounts)
def test_a_nice_ceiling_is_round_and_at_or_above_the_value(value):
    ceiling = svg.nice_ceiling(value)
    assert ceiling >= value
    assert ceiling > 0
    assert ceiling.normalize().as_tuple().digits[0] in (1, 2, 5)
    assert ceiling <= max(value * Decimal("2.5"), Decimal(1))


@given(
    bars=st.lists(st.tuples(names, amounts, st.booleans()), max_size=12),
    median=st.none() | amounts,
    band=st.none() | amounts,
)
def test_bars_never_leave_the_chart_and_nothing_is_drawn_for_zero(bars, median, band):
    chart = svg.bar_chart("c", "A <title> & more", "desc", [
        svg.Bar(label, value, "z 1", flagged) for label, value, flagged in bars
    ], unit="mg", median=median, band_from=band)  # fmt: skip
    width, height, rects = drawn(chart)
    assert all(inside(rect, width, height) for rect in rects)
    drawn_bars = [r for r in rects if r.attrib["class"].startswith("bar")]
    assert len(drawn_bars) == sum(1 for _, value, _ in bars if value > 0)
    assert len([r for r in rects if r.attrib["class"] == "bar flagged"]) == sum(
        1 for _, value, flagged in bars if flagged and value > 0
    )
    root = ET.fromstring(chart)  # noqa: S314 (our own chart)
    assert root.attrib["role"] == "img"
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == "A <title> & more"  # escaped, read back whole


@given(
    weeks=st.integers(min_value=1, max_value=53),
    counts=st.lists(
        st.lists(st.integers(min_value=0, max_value=10_000), min_size=53, max_size=53), max_size=8
    ),
)
def test_strips_never_leave_the_chart_and_zero_weeks_draw_nothing(weeks, counts):
    series = [svg.Series(f"rule {i}", values[:weeks]) for i, values in enumerate(counts)]
    chart = svg.small_multiples("t", "t", "d", [f"w{i}" for i in range(weeks)], series)
    width, height, rects = drawn(chart)
    assert all(inside(rect, width, height) for rect in rects)
    assert len(rects) == sum(1 for one in series for value in one.values if value > 0)


@given(today=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
       weeks=st.integers(min_value=1, max_value=53))  # fmt: skip
def test_the_weeks_are_consecutive_mondays_ending_with_todays(today, weeks):
    starts = mondays(today, weeks)
    assert len(starts) == weeks
    assert all(day.weekday() == 0 for day in starts)
    assert all(b - a == timedelta(weeks=1) for a, b in itertools.pairwise(starts))
    assert starts[-1] <= today < starts[-1] + timedelta(weeks=1)


@given(today=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
       zone=st.sampled_from(["America/Chicago", "America/Los_Angeles", "Pacific/Honolulu",
                             "America/New_York", "UTC"]))  # fmt: skip
def test_a_weeks_bounds_are_local_midnights_a_week_apart_give_or_take_an_hour(today, zone):
    bounds = week_bounds(mondays(today, 3), zone)
    assert len(bounds) == 4
    for start, end in itertools.pairwise(bounds):
        assert abs((end - start) - timedelta(weeks=1)) <= timedelta(hours=1)
