"""Charts as inline SVG, drawn on the server: no JavaScript, no chart library.

Two kinds, each an ``<svg role="img">`` named by its ``<title>`` and described by its
``<desc>`` (the page's table beside it holds the same numbers, as text):

- :func:`bar_chart`: a horizontal bar per row (a person's amount per session), with a line
  at a reference value (the peers' median) and a shaded band from a threshold on (where
  outliers lie); flagged rows drawn apart and labelled.
- :func:`small_multiples`: one strip of columns per series (a rule's discrepancies week by
  week) on one shared scale, so strips compare at a glance.

Pure functions of what they are given; every length comes from :class:`Scale`, which never
draws below zero nor past the chart's end. Colours come from console.css (``.chart``).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup

from app.core.quantity import format_quantity

_NICE_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10))


def nice_ceiling(value: Decimal) -> Decimal:
    """The least round number (1, 2, 2.5 or 5 times a power of ten) at or above ``value``;
    1 for nothing above zero, so an empty chart still has a scale."""
    if value <= 0:
        return Decimal(1)
    power = Decimal(10) ** value.adjusted()  # 10 ** floor(log10(value))
    return next(step * power for step in _NICE_STEPS if step * power >= value)


@dataclass(frozen=True, slots=True)
class Scale:
    """From a value (0 to ``maximum``) to a length (0 to ``length`` pixels): nothing for
    zero, at least a pixel for anything more, so a small amount is never taken for none."""

    maximum: Decimal
    length: float

    def __call__(self, value: Decimal) -> float:
        if self.maximum <= 0 or value <= 0:
            return 0.0
        scaled = round(float(value / self.maximum) * self.length, 2)
        return min(max(scaled, 1.0), self.length)


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: Decimal
    note: str = ""
    """Said after the value ("z 8.23")."""
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    values: Sequence[int]


def _svg(
    chart_id: str, title: str, desc: str, width: float, height: float, body: list[Markup]
) -> Markup:
    return Markup(
        '<svg class="chart" id="{id}" role="img" aria-labelledby="{id}-title {id}-desc" '
        'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet" '
        'xmlns="http://www.w3.org/2000/svg">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>{body}</svg>'
    ).format(id=chart_id, w=width, h=height, title=title, desc=desc, body=Markup("").join(body))


def _text(x: float, y: float, content: str, css: str, anchor: str = "start") -> Markup:
    return Markup('<text x="{}" y="{}" class="{}" text-anchor="{}">{}</text>').format(
        x, y, css, anchor, content
    )


def _rect(x: float, y: float, width: float, height: float, css: str) -> Markup:
    """A rectangle, or nothing when it has no width or height to draw."""
    if width <= 0 or height <= 0:
        return Markup("")
    return Markup('<rect x="{}" y="{}" width="{}" height="{}" class="{}"/>').format(
        x, y, width, height, css
    )


def _line(x1: float, y1: float, x2: float, y2: float, css: str) -> Markup:
    return Markup('<line x1="{}" y1="{}" x2="{}" y2="{}" class="{}"/>').format(x1, y1, x2, y2, css)


def _shortened(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


# A bar chart: names on the left, bars in the middle, values on the right.
BAR_WIDTH = 720
_NAMES, _PLOT_X, _PLOT, _VALUES = 190, 200, 260, 468
_ROW, _BAR, _TOP, _BOTTOM = 30, 18, 34, 26


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    bars: Sequence[Bar],
    *,
    unit: str,
    median: Decimal | None = None,
    band_from: Decimal | None = None,
) -> Markup:
    """Horizontal bars on one scale (0 to a round number past every value, the median and
    the band's start), the median as a dashed line, the band from ``band_from`` shaded."""
    given = [b.value for b in bars] + [v for v in (median, band_from) if v is not None]
    top = max([Decimal(0), *given])
    scale = Scale(nice_ceiling(top), _PLOT)
    bottom = _TOP + len(bars) * _ROW
    parts = []
    if band_from is not None:
        start = _PLOT_X + scale(band_from)
        parts += [
            _rect(start, _TOP - 6, _PLOT_X + _PLOT - start, bottom - _TOP + 6, "band"),
            _text(
                _PLOT_X + _PLOT, 12, f"flagged beyond {format_quantity(band_from)}", "note", "end"
            ),
        ]
    for row, bar in enumerate(bars):
        y = _TOP + row * _ROW
        said = f"{format_quantity(bar.value)} {unit}" + (f", {bar.note}" if bar.note else "")
        kind = " flagged" if bar.flagged else ""
        parts += [
            _text(_NAMES, y + _BAR - 4, _shortened(bar.label, 26), "name", "end"),
            _rect(_PLOT_X, y, scale(bar.value), _BAR, "bar" + kind),
            _text(_VALUES, y + _BAR - 4, said, "value" + kind),
        ]
    if median is not None:
        x = _PLOT_X + scale(median)
        parts += [
            _line(x, _TOP - 6, x, bottom, "median"),
            _text(x, _TOP - 10, f"median {format_quantity(median)}", "note", "middle"),
        ]
    return _svg(chart_id, title, desc, BAR_WIDTH, bottom + _BOTTOM,
                [*parts, *_axis(scale, bottom, unit)])  # fmt: skip


def _axis(scale: Scale, y: float, unit: str) -> list[Markup]:
    ticks = [Decimal(0), scale.maximum / 2, scale.maximum]
    return [
        _line(_PLOT_X, y, _PLOT_X + _PLOT, y, "axis"),
        *(_text(_PLOT_X + scale(t), y + 18, format_quantity(t), "tick", "middle") for t in ticks),
        _text(_PLOT_X - 6, y + 18, unit, "tick", "end"),
    ]


# Small multiples: one strip per series, columns per period, labels below the last strip.
_STRIP, _STRIP_LABEL, _COLUMNS_X, _AXIS_LABELS = 62, 18, 10, 24


def small_multiples(
    chart_id: str, title: str, desc: str, periods: Sequence[str], series: Sequence[Series]
) -> Markup:
    """A strip of columns per series, all on the scale of the largest value, each non-zero
    column labelled with its value; the periods named below the last strip."""
    slot = (BAR_WIDTH - 2 * _COLUMNS_X) / max(len(periods), 1)
    column = round(slot * 0.6, 2)
    largest = max([1, *(value for one in series for value in one.values)])
    scale = Scale(Decimal(largest), _STRIP - _STRIP_LABEL - 16)
    parts = []
    for index, one in enumerate(series):
        base = (index + 1) * _STRIP  # the strip's baseline
        parts += [
            _text(_COLUMNS_X, base - _STRIP + _STRIP_LABEL - 4, one.label, "name"),
            _line(_COLUMNS_X, base, BAR_WIDTH - _COLUMNS_X, base, "axis"),
        ]
        for at, value in enumerate(one.values):
            x = round(_COLUMNS_X + at * slot + (slot - column) / 2, 2)
            tall = scale(Decimal(value))
            parts.append(_rect(x, base - tall, column, tall, "bar"))
            if value:
                parts.append(_text(x + column / 2, base - tall - 3, str(value), "value", "middle"))
    bottom = len(series) * _STRIP + _AXIS_LABELS
    parts += [_text(round(_COLUMNS_X + at * slot + slot / 2, 2), bottom - 6, period, "tick",
                    "middle") for at, period in enumerate(periods)]  # fmt: skip
    return _svg(chart_id, title, desc, BAR_WIDTH, bottom, parts)
