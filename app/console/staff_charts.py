"""The staff page's charts: the domain's views (app/reconciliation/peer_view.py, trends.py)
as the bars and strips app/console/svg.py draws, with the words that name them."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from markupsafe import Markup

from app.console import svg
from app.core.quantity import format_quantity
from app.reconciliation.peer_view import MeasureView, Person, WorkView
from app.reconciliation.peers import PeerMeasure
from app.reconciliation.trends import WeekCount, mondays

MEASURE_TITLES = {
    PeerMeasure.withdrawn: "Withdrawn per session",
    PeerMeasure.waste: "Wasted per session",
    PeerMeasure.discrepancies: "Discrepancies naming them per session",
}


def words(code: str) -> str:
    return code.replace("_", " ")


def standing(person: Person) -> str:
    """How a person stands among their peers, in words."""
    if person.z is None:
        return f"not compared: {person.not_compared}"
    return "flagged for review" if person.outlier else "within their peers"


def peer_chart(chart_id: str, work: WorkView, view: MeasureView) -> Markup:
    bars = [svg.Bar(p.name, p.per_session, _note(p), p.outlier) for p in view.people]
    title = f"{MEASURE_TITLES[view.measure]}: {words(work.role)}s, {words(work.work)}"
    return svg.bar_chart(chart_id, title, _described(view), bars, unit=view.unit,
                         median=view.median, band_from=view.flagged_from)  # fmt: skip


def spread(view: MeasureView) -> str:
    """The peers' spread, to two places (it is a statistic, not an amount anyone drew)."""
    return "" if view.spread is None else format_quantity(view.spread.quantize(Decimal("0.01")))


def _note(person: Person) -> str:
    if person.z is None:
        return "not compared"
    return f"z {person.z}" + (", flagged" if person.outlier else "")


def _described(view: MeasureView) -> str:
    each = "; ".join(
        f"{p.name} {format_quantity(p.per_session)} {view.unit} ({standing(p)})"
        for p in view.people
    )
    if view.median is None or view.spread is None or view.flagged_from is None:
        return f"Too few to compare. {each}."
    return (f"Peer median {format_quantity(view.median)} {view.unit}, spread "
            f"{spread(view)} "
            f"{view.unit}, flagged beyond {format_quantity(view.flagged_from)} {view.unit}. "
            f"{each}.")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Trend:
    """Discrepancies opened per rule and week, every week shown (none: zero)."""

    weeks: list[date]
    rules: list[str]
    counts: dict[str, list[int]]
    """Per rule, its count in each week, in the weeks' order."""

    @classmethod
    def of(cls, found: list[WeekCount], today: date, weeks: int) -> "Trend":
        starts = mondays(today, weeks)
        place = {week: index for index, week in enumerate(starts)}
        counts: defaultdict[str, list[int]] = defaultdict(lambda: [0] * len(starts))
        for row in found:
            counts[row.rule][place[row.week]] += row.count
        return cls(starts, sorted(counts), dict(counts))

    def totals(self) -> list[int]:
        return [sum(self.counts[rule][i] for rule in self.rules) for i in range(len(self.weeks))]


def trend_chart(chart_id: str, trend: Trend) -> Markup:
    series = [svg.Series(words(rule), trend.counts[rule]) for rule in trend.rules]
    periods = [f"{week:%b} {week.day}" for week in trend.weeks]
    desc = "; ".join(f"{words(rule)}: {sum(trend.counts[rule])}" for rule in trend.rules)
    title = f"Discrepancies opened per week by rule, weeks from {trend.weeks[0]}"
    return svg.small_multiples(chart_id, title, desc or "None opened.", periods, series)
