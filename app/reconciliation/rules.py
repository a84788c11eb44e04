"""The reconciliation rules: pure functions over what a run's queries found, each with a
stable code, a severity and the regulation or practice behind it.

A rule returns findings; the run turns each into a discrepancy (or brings the one no person
has closed up to date, by its fingerprint), so running a period again never duplicates one.
The rules of :data:`RUN_EVALUATED` judge the registrant as it stands on the run's day: their
findings that a run no longer finds are cured.
"""

import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.clinical.schemas import ESKETAMINE_DOSES_MG
from app.core.quantity import format_quantity
from app.reconciliation.facts import Facts, SessionEnd
from app.reconciliation.findings import Finding, Found, Subject
from app.reconciliation.peers import PeerSettings, outliers
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
    peers: PeerSettings


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
                    summary=f"count {kind} by {format_quantity(abs(variance))} against "
                            f"{format_quantity(count.expected)} expected",
                    reportable=significant,
                    discovered_at=count.occurred_at if significant else None,
                    details={"counted": format_quantity(count.counted),
                             "expected": format_quantity(count.expected),
                             "usage_30_days": format_quantity(count.usage),
                             "shortfalls_in_window": pattern}),
            event_ids=(count.event_id,), staff_ids=tuple(filter(None, [count.counted_by])),
            subject=Subject(location_id=count.location_id, lot_id=count.lot_id,
                            product_id=count.product_id),
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
                            f"{format_quantity(adjustment.quantity)}",
                    reportable=True, discovered_at=adjustment.occurred_at,
                    details={"event_ids": [str(a.event_id) for a in in_window]}),
            event_ids=tuple(a.event_id for a in in_window),
            staff_ids=tuple(sorted({a.performed_by for a in in_window if a.performed_by})),
            subject=Subject(location_id=adjustment.location_id, product_id=adjustment.product_id),
        ))  # fmt: skip
    return found


def holding_not_emptied(facts: Facts, settings: Settings) -> list[Found]:
    """A session discharged or aborted with stock still in its holding: withdrawn is not
    administered + wasted + returned (docs/domain.md#four-way-reconciliation)."""
    return [
        Found(Finding(rule="holding_not_emptied", severity=Severity.significant,
                      fingerprint=f"holding_not_emptied:session:{end.session_id}",
                      summary=f"{format_quantity(end.unresolved_mg)} mg left unresolved in the "
                              "session's holding",
                      details={"session_id": str(end.session_id)}),
              staff_ids=end.staff_ids, subject=_session_subject(end))
        for end in facts.session_ends if end.unresolved_mg > 0
    ]  # fmt: skip


def _session_subject(end: SessionEnd) -> Subject:
    return Subject(location_id=end.room_id, patient_id=end.patient_id, session_id=end.session_id)


def esketamine_dose_unusual(facts: Facts, settings: Settings) -> list[Found]:
    """An esketamine session discharged after a dose other than 56 or 84 mg (two or three
    devices; Spravato labelling): a device withdrawn and not given, or one too many."""
    return [
        Found(Finding(rule="esketamine_dose_unusual", severity=Severity.significant,
                      fingerprint=f"esketamine_dose_unusual:session:{end.session_id}",
                      summary=f"{format_quantity(given)} mg of esketamine given, not 56 or 84",
                      details={"session_id": str(end.session_id)}),
              staff_ids=end.staff_ids, subject=_session_subject(end))
        for end in facts.session_ends
        if (given := end.esketamine_mg) is not None and given not in ESKETAMINE_DOSES_MG
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
                  staff_ids=tuple(filter(None, [waste.performed_by])),
                  subject=Subject(lot_id=waste.lot_id, product_id=waste.product_id,
                                  patient_id=waste.patient_id, session_id=waste.session_id))
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
              staff_ids=form.staff_ids,
              subject=Subject(patient_id=form.patient_id, session_id=form.session_id))
        for form in facts.monitoring_forms
        if (form.submitted_on or facts.today) > form.due_on
    ]  # fmt: skip


def expired_stock_on_hand(facts: Facts, settings: Settings) -> list[Found]:
    """Stock of an expired lot (or one past its beyond-use date) still on hand: to be destroyed
    or returned (21 CFR Part 1317), never dispensed."""
    return [
        Found(Finding(rule="expired_stock_on_hand", severity=Severity.minor,
                      fingerprint=f"expired_stock_on_hand:{stock.location_id}:{stock.lot_id}",
                      summary=f"{format_quantity(stock.quantity)} of lot {stock.lot_number}, "
                              f"expired {stock.expires_on.isoformat()}, still on hand"),
              subject=Subject(location_id=stock.location_id, lot_id=stock.lot_id,
                              product_id=stock.product_id))
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


def peer_outliers(facts: Facts, settings: Settings) -> list[Found]:
    """Staff far from their peers doing like work (app/reconciliation/peers.py)."""
    return outliers(facts.peer_stats, settings.peers)


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


def _inventory_taken(facts: Facts, details: Mapping[str, Any]) -> str:
    taken = facts.last_full_inventory_on
    return "no inventory is due" if taken is None else f"inventory taken {taken.isoformat()}"


def _reported_in_time(facts: Facts, details: Mapping[str, Any]) -> str:
    still_owed = {str(report.discrepancy_id) for report in facts.open_reports}
    if details.get("discrepancy_id") in still_owed:
        return "written notice given; DEA Form 106 not yet due"
    return "reported to the DEA, or resolved as owing no report"


def _expired_stock_gone(facts: Facts, details: Mapping[str, Any]) -> str:
    return "no stock of the expired lot left there"


RUN_EVALUATED: dict[str, Callable[[Facts, Mapping[str, Any]], str]] = {
    "inventory_due": _inventory_taken,
    "dea_report_overdue": _reported_in_time,
    "expired_stock_on_hand": _expired_stock_gone,
}
"""The rules that judge the registrant as it stands on the run's day, whatever the period
run: every run finds all of their findings that hold, so one it does not find again no longer
holds, and is cured, with the reason its function gives (from the run's facts and the
finding's details). The other rules judge what happened in the period (a count, a waste, a
session, a pattern, a form late), which stays as it happened whatever follows: a person closes
their findings, as they do those of events (a theft, a loss, a rule broken)."""
