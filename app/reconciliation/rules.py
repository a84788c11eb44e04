"""The reconciliation rules: pure functions over what a run's queries found, each with a
stable code, a severity and the regulation or practice behind it.

A rule returns findings; the run turns each into a discrepancy (or brings the open one up to
date, by its fingerprint), so running a period again never duplicates one.
"""

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from app.clinical.schemas import ESKETAMINE_DOSES_MG
from app.reconciliation.findings import Finding
from app.reconciliation.workflow import Severity

INVENTORY_YEARS = 2
"""A new full inventory at least every two years (21 CFR 1304.11(c))."""


@dataclass(frozen=True, slots=True)
class Settings:
    """The settings the rules read (a state may be stricter than the federal floor)."""

    significant_percent: Decimal
    pattern_shortfalls: int
    pattern_window: timedelta
    waste_window: timedelta
    inventory_warning: timedelta
    peer_outlier_z: Decimal = Decimal("3.5")


@dataclass(frozen=True, slots=True)
class Count:
    event_id: uuid.UUID
    location_id: uuid.UUID
    product_id: uuid.UUID
    lot_id: uuid.UUID
    occurred_at: datetime
    counted: Decimal
    expected: Decimal
    """The balance at the count's instant, from the ledger's postings."""
    usage: Decimal
    """What left that location and lot in the 30 days before the count (read for the
    period's counts only: zero for the pattern's earlier ones)."""
    in_period: bool
    """Counts before the period are read only for the pattern."""
    counted_by: str | None


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A decrease of the book (an ``adjust`` event), in the period or the window before it."""

    event_id: uuid.UUID
    location_id: uuid.UUID
    product_id: uuid.UUID
    occurred_at: datetime
    quantity: Decimal
    performed_by: str | None
    in_period: bool


@dataclass(frozen=True, slots=True)
class SessionEnd:
    session_id: uuid.UUID
    unresolved_mg: Decimal
    staff_ids: tuple[str, ...]
    esketamine_mg: Decimal | None = None
    """What an esketamine session that was discharged gave (None for any other)."""


@dataclass(frozen=True, slots=True)
class Waste:
    event_id: uuid.UUID
    session_id: uuid.UUID
    performed_by: str | None
    witness_ids: tuple[str, ...]
    confirmed_by: tuple[str, ...]
    recorded_at: datetime
    first_withdrawal_at: datetime


@dataclass(frozen=True, slots=True)
class MonitoringForm:
    session_id: uuid.UUID
    due_on: date
    submitted_on: date | None
    staff_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExpiredStock:
    location_id: uuid.UUID
    lot_id: uuid.UUID
    product_id: uuid.UUID
    lot_number: str
    expires_on: date
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class PeerStat:
    """One member of staff's amount per session of a product over the peer window."""

    staff_id: str
    role: str
    product_id: uuid.UUID
    measure: str
    """"waste" or "withdrawn" (mg), or "discrepancies" (those about sessions naming them)."""
    per_session: Decimal


@dataclass(frozen=True, slots=True)
class OpenReport:
    """A theft or significant loss not yet reported, with the DEA's due dates."""

    discrepancy_id: uuid.UUID
    notice_due_on: date
    notice_given: bool
    form_106_due_on: date
    staff_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Facts:
    """What a run found for one registrant and period."""

    today: date
    """The registrant's day when the run ran."""
    first_activity_on: date | None
    last_full_inventory_on: date | None
    counts: Sequence[Count] = ()
    adjustments: Sequence[Adjustment] = ()
    session_ends: Sequence[SessionEnd] = ()
    waste: Sequence[Waste] = ()
    monitoring_forms: Sequence[MonitoringForm] = ()
    expired_stock: Sequence[ExpiredStock] = ()
    peer_stats: Sequence[PeerStat] = ()
    open_reports: Sequence[OpenReport] = ()


@dataclass(frozen=True, slots=True)
class Found:
    """A finding with what it is about (for the discrepancy's filters and separation of
    duties)."""

    finding: Finding
    event_ids: tuple[uuid.UUID, ...] = ()
    staff_ids: tuple[str, ...] = ()
    product_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None


def count_variance(facts: Facts, settings: Settings) -> list[Found]:
    """A count that differs from the expected balance at its instant (21 CFR 1304.11, 1301.76:
    a shortfall may be a loss). Severity by size against the usage there; a continuing pattern
    of small shortfalls of one product at one location is significant (1301.76(b))."""
    shortfalls: dict[tuple[uuid.UUID, uuid.UUID], list[datetime]] = defaultdict(list)
    for count in facts.counts:
        if count.counted < count.expected:
            shortfalls[(count.location_id, count.product_id)].append(count.occurred_at)
    found = []
    for count in facts.counts:
        variance = count.counted - count.expected
        if not count.in_period or variance == 0:
            continue
        since = count.occurred_at - settings.pattern_window
        pattern = sum(1 for at in shortfalls[(count.location_id, count.product_id)]
                      if since < at <= count.occurred_at)  # fmt: skip
        large = -variance * 100 >= settings.significant_percent * count.usage
        significant = variance < 0 and (large or pattern >= settings.pattern_shortfalls)
        kind = "short" if variance < 0 else "over"
        found.append(Found(
            Finding(rule="count_variance",
                    severity=Severity.significant if significant else Severity.minor,
                    fingerprint=f"count_variance:event:{count.event_id}",
                    summary=f"count {kind} by {abs(variance)} against {count.expected} expected",
                    reportable=significant,
                    discovered_at=count.occurred_at if significant else None,
                    details={"counted": str(count.counted), "expected": str(count.expected),
                             "usage_30_days": str(count.usage),
                             "shortfalls_in_window": pattern}),
            event_ids=(count.event_id,), staff_ids=tuple(filter(None, [count.counted_by])),
            product_id=count.product_id, location_id=count.location_id,
        ))  # fmt: skip
    return found


def adjustment_pattern(facts: Facts, settings: Settings) -> list[Found]:
    """Decreases of the book for one product at one location, repeated within the window: a
    continuing pattern of small losses is significant, and reported (21 CFR 1301.76(b)). Each
    decrease that reaches the pattern is a finding; one alone is not (it needs a reason and
    the permission to adjust)."""
    found = []
    for adjustment in facts.adjustments:
        if not adjustment.in_period:
            continue
        since = adjustment.occurred_at - settings.pattern_window
        in_window = [other for other in facts.adjustments
                     if (other.location_id, other.product_id)
                     == (adjustment.location_id, adjustment.product_id)
                     and since < other.occurred_at <= adjustment.occurred_at]  # fmt: skip
        if len(in_window) < settings.pattern_shortfalls:
            continue
        found.append(Found(
            Finding(rule="adjustment_pattern", severity=Severity.significant,
                    fingerprint=f"adjustment_pattern:event:{adjustment.event_id}",
                    summary=f"{len(in_window)} decreases of the book within "
                            f"{settings.pattern_window.days} days, this one "
                            f"{adjustment.quantity}",
                    reportable=True, discovered_at=adjustment.occurred_at,
                    details={"event_ids": [str(a.event_id) for a in in_window]}),
            event_ids=tuple(a.event_id for a in in_window),
            staff_ids=tuple(sorted({a.performed_by for a in in_window if a.performed_by})),
            product_id=adjustment.product_id, location_id=adjustment.location_id,
        ))  # fmt: skip
    return found


def holding_not_emptied(facts: Facts, settings: Settings) -> list[Found]:
    """A session discharged or aborted with stock still in its holding: withdrawn is not
    administered + wasted + returned (docs/domain.md#four-way-reconciliation)."""
    return [
        Found(Finding(rule="holding_not_emptied", severity=Severity.significant,
                      fingerprint=f"holding_not_emptied:session:{end.session_id}",
                      summary=f"{end.unresolved_mg} mg left unresolved in the session's holding",
                      details={"session_id": str(end.session_id)}),
              staff_ids=end.staff_ids)
        for end in facts.session_ends if end.unresolved_mg > 0
    ]  # fmt: skip


def esketamine_dose_unusual(facts: Facts, settings: Settings) -> list[Found]:
    """An esketamine session discharged after a dose other than 56 or 84 mg (two or three
    devices; Spravato labelling): a device withdrawn and not given, or one too many."""
    return [
        Found(Finding(rule="esketamine_dose_unusual", severity=Severity.significant,
                      fingerprint=f"esketamine_dose_unusual:session:{end.session_id}",
                      summary=f"{end.esketamine_mg} mg of esketamine given, not 56 or 84",
                      details={"session_id": str(end.session_id)}),
              staff_ids=end.staff_ids)
        for end in facts.session_ends
        if end.esketamine_mg is not None and end.esketamine_mg not in ESKETAMINE_DOSES_MG
    ]  # fmt: skip


def waste_witnessing(facts: Facts, settings: Settings) -> list[Found]:
    """Waste not confirmed by a witness other than the waster, or recorded later than the
    window after the withdrawal (DEA's guidance on wastage; practice: witnessed and prompt)."""
    found: list[Found] = []
    for waste in facts.waste:
        independent = set(waste.confirmed_by) - {waste.performed_by}
        checks = [
            ("waste_witnessed_by_waster", Severity.significant,
             waste.performed_by is not None and waste.performed_by in waste.witness_ids,
             "the waste names its waster as witness"),
            ("waste_unwitnessed", Severity.significant, not independent,
             "no witness other than the waster confirmed the waste"),
            ("waste_late", Severity.minor,
             waste.recorded_at - waste.first_withdrawal_at > settings.waste_window,
             "waste recorded later than the window after the withdrawal"),
        ]  # fmt: skip
        found.extend(
            Found(Finding(rule=code, severity=severity,
                          fingerprint=f"{code}:event:{waste.event_id}", summary=summary,
                          details={"session_id": str(waste.session_id)}),
                  event_ids=(waste.event_id,),
                  staff_ids=tuple(filter(None, [waste.performed_by])))
            for code, severity, broken, summary in checks if broken
        )  # fmt: skip
    return found


def monitoring_form_overdue(facts: Facts, settings: Settings) -> list[Found]:
    """An esketamine session's Patient Monitoring Form not submitted within 7 days (Spravato
    REMS)."""
    return [
        Found(Finding(rule="monitoring_form_overdue", severity=Severity.significant,
                      fingerprint=f"monitoring_form_overdue:session:{form.session_id}",
                      summary=f"monitoring form due {form.due_on.isoformat()}, "
                              + (f"submitted {form.submitted_on.isoformat()}"
                                 if form.submitted_on else "not submitted"),
                      details={"session_id": str(form.session_id)}),
              staff_ids=form.staff_ids)
        for form in facts.monitoring_forms
        if (form.submitted_on or facts.today) > form.due_on
    ]  # fmt: skip


def expired_stock_on_hand(facts: Facts, settings: Settings) -> list[Found]:
    """Stock of an expired lot (or one past its beyond-use date) still on hand: to be destroyed
    or returned (21 CFR Part 1317), never dispensed."""
    return [
        Found(Finding(rule="expired_stock_on_hand", severity=Severity.minor,
                      fingerprint=f"expired_stock_on_hand:{stock.location_id}:{stock.lot_id}",
                      summary=f"{stock.quantity} of lot {stock.lot_number}, expired "
                              f"{stock.expires_on.isoformat()}, still on hand"),
              product_id=stock.product_id, location_id=stock.location_id)
        for stock in facts.expired_stock
    ]  # fmt: skip


def inventory_due(facts: Facts, settings: Settings) -> list[Found]:
    """An initial inventory when handling begins, then a full one at least every two years
    (21 CFR 1304.11(b), (c)): flagged when due within the warning, significant once overdue."""
    if facts.last_full_inventory_on is None:
        if facts.first_activity_on is None:
            return []
        due, what = facts.first_activity_on, "initial inventory"
    else:
        last = facts.last_full_inventory_on
        due = _years_later(last, INVENTORY_YEARS)
        what = "biennial inventory"
    if facts.today < due - settings.inventory_warning:
        return []
    overdue = facts.today > due
    return [Found(Finding(
        rule="inventory_due", severity=Severity.significant if overdue else Severity.info,
        fingerprint=f"inventory_due:{what.split()[0]}:{due.isoformat()}",
        summary=f"{what} {'overdue since' if overdue else 'due'} {due.isoformat()}",
    ))]  # fmt: skip


def dea_report_overdue(facts: Facts, settings: Settings) -> list[Found]:
    """A theft or significant loss whose written notice (one business day after discovery) or
    DEA Form 106 (45 days) is past due and not given (21 CFR 1301.76(b))."""
    found = []
    for report in facts.open_reports:
        late = [what for what, due, done in (
            ("written notice", report.notice_due_on, report.notice_given),
            ("DEA Form 106", report.form_106_due_on, False),
        ) if facts.today > due and not done]  # fmt: skip
        if late:
            found.append(Found(
                Finding(rule="dea_report_overdue", severity=Severity.critical,
                        fingerprint=f"dea_report_overdue:{report.discrepancy_id}",
                        summary=f"{' and '.join(late)} overdue",
                        details={"discrepancy_id": str(report.discrepancy_id), "late": late}),
                staff_ids=report.staff_ids,
            ))  # fmt: skip
    return found


PEER_OUTLIER = "peer_outlier"
PEERS_NEEDED = 3
"""Fewer peers than this (the person included) make no comparison."""
MAD_SCALE = Decimal("0.6745")
"""Scales the median absolute deviation to a standard deviation (normal data)."""
MEAN_AD_SCALE = Decimal("1.253314")
"""Scales the mean absolute deviation to a standard deviation (normal data): the spread used
when more than half the peers share the median, as with discrepancies, which most have none
of (Iglewicz and Hoaglin's modified z-score, as IBM SPSS computes it)."""


def peer_outliers(facts: Facts, settings: Settings) -> list[Found]:
    """Staff whose waste, withdrawals or discrepancies per session of a product lie far from
    their peers' (same registrant and role): a robust z-score (median and median absolute
    deviation) beyond the threshold. Flagged for review, not accused, as diversion-control
    products do (docs/domain.md#peer-comparison)."""
    groups: dict[tuple[str, uuid.UUID, str], list[PeerStat]] = defaultdict(list)
    for stat in facts.peer_stats:
        groups[(stat.role, stat.product_id, stat.measure)].append(stat)
    found = []
    for (_role, product_id, measure), stats in groups.items():
        for stat, z in _robust_z(stats):
            if z > settings.peer_outlier_z:
                found.append(Found(
                    Finding(rule=PEER_OUTLIER, severity=Severity.info,
                            fingerprint=f"peer_outlier:{measure}:{stat.staff_id}:{product_id}",
                            summary=f"{measure} per session {stat.per_session}, robust z "
                                    f"{z.quantize(Decimal('0.1'))} among {len(stats)} peers",
                            details={"measure": measure, "per_session": str(stat.per_session),
                                     "robust_z": str(z.quantize(Decimal("0.01")))}),
                    staff_ids=(stat.staff_id,), product_id=product_id,
                ))  # fmt: skip
    return found


def _robust_z(stats: Sequence[PeerStat]) -> list[tuple[PeerStat, Decimal]]:
    if len(stats) < PEERS_NEEDED:
        return []
    values = [s.per_session for s in stats]
    middle = _median(values)
    deviations = [abs(v - middle) for v in values]
    if (spread := _median(deviations)) != 0:
        return [(s, MAD_SCALE * (s.per_session - middle) / spread) for s in stats]
    if (mean_spread := sum(deviations, Decimal(0)) / len(deviations)) != 0:
        return [(s, (s.per_session - middle) / (MEAN_AD_SCALE * mean_spread)) for s in stats]
    return []


def _median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    half = len(ordered) // 2
    return ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2


def _years_later(day: date, years: int) -> date:
    """The same day ``years`` on (29 February falls back to the 28th)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


RULES: dict[str, Callable[[Facts, Settings], list[Found]]] = {
    "count_variance": count_variance,
    "adjustment_pattern": adjustment_pattern,
    "holding_not_emptied": holding_not_emptied,
    "esketamine_dose_unusual": esketamine_dose_unusual,
    "waste_witnessing": waste_witnessing,
    "monitoring_form_overdue": monitoring_form_overdue,
    "expired_stock_on_hand": expired_stock_on_hand,
    "inventory_due": inventory_due,
    "peer_outliers": peer_outliers,
    "dea_report_overdue": dea_report_overdue,
}


def evaluate(facts: Facts, settings: Settings) -> list[Found]:
    return [found for rule in RULES.values() for found in rule(facts, settings)]
