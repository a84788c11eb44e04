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
from app.reconciliation import invoice_rules
from app.reconciliation.facts import Count, Facts, MonitoringForm, OpenReport, SessionEnd, Waste
from app.reconciliation.findings import Finding, Found, Subject
from app.reconciliation.peers import PeerSettings, outliers
from app.reconciliation.words import (
    Words,
    code_words,
    days_words,
    lowered,
    minutes_words,
    ordinal,
    sentence,
    variance_words,
)
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
    invoice_grace: timedelta


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
        found.append(Found(
            Finding(rule="count_variance",
                    severity=Severity.significant if significant else Severity.minor,
                    fingerprint=f"count_variance:event:{count.event_id}",
                    summary=_count_words(facts.words, count, pattern, settings),
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


def _count_words(words: Words, count: Count, pattern: int, settings: Settings) -> str:
    """A count in words: "Count of lot KA2611 at Vault short by 4 mL (expected 660 mL,
    counted 656 mL) on 2026-09-17 12:00 PDT", and the pattern it makes, if it makes one."""
    product = count.product_id
    said = (f"Count of {words.lot(count.lot_id)} at {words.location(count.location_id)} "
            f"{variance_words(count.counted, count.expected, words.unit(product))} "
            f"(expected {words.quantity(count.expected, product)}, counted "
            f"{words.quantity(count.counted, product)}) on "
            f"{words.at(count.occurred_at)}")  # fmt: skip
    if count.counted < count.expected and pattern >= settings.pattern_shortfalls:
        said += (f", the {ordinal(pattern)} short count of {words.product(count.product_id)} "
                 f"there within {days_words(settings.pattern_window.days)}")  # fmt: skip
    return said


def adjustment_pattern(facts: Facts, settings: Settings) -> list[Found]:
    """Decreases of the book for one product at one location, repeated within the window: a
    continuing pattern of small losses is significant, and reported (21 CFR 1301.76(b)). Each
    decrease that reaches the pattern is a finding; one alone is not (it needs a reason and
    the permission to adjust)."""
    found = []
    words = facts.words
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
                    summary=f"Adjustment of {words.lot(adjustment.lot_id)} at "
                            f"{words.location(adjustment.location_id)} down by "
                            f"{words.quantity(adjustment.quantity, adjustment.product_id)} on "
                            f"{words.at(adjustment.occurred_at)}, the {ordinal(len(in_window))} "
                            f"decrease of {words.product(adjustment.product_id)} there within "
                            f"{days_words(settings.pattern_window.days)}",
                    reportable=True, discovered_at=adjustment.occurred_at,
                    details={"event_ids": [str(a.event_id) for a in in_window]}),
            event_ids=tuple(a.event_id for a in in_window),
            staff_ids=tuple(sorted({a.performed_by for a in in_window if a.performed_by})),
            subject=Subject(location_id=adjustment.location_id, lot_id=adjustment.lot_id,
                            product_id=adjustment.product_id),
        ))  # fmt: skip
    return found


def holding_not_emptied(facts: Facts, settings: Settings) -> list[Found]:
    """A session discharged or aborted with stock still in its holding: withdrawn is not
    administered + wasted + returned (docs/domain.md#four-way-reconciliation)."""
    return [
        Found(Finding(rule="holding_not_emptied", severity=Severity.significant,
                      fingerprint=f"holding_not_emptied:session:{end.session_id}",
                      summary=f"{_session_words(facts.words, end)} with "
                              f"{format_quantity(end.unresolved_mg)} mg left in its holding, "
                              "neither given, wasted nor returned",
                      details={"session_id": str(end.session_id)}),
              event_ids=end.event_ids, staff_ids=end.staff_ids, subject=_session_subject(end))
        for end in facts.session_ends if end.unresolved_mg > 0
    ]  # fmt: skip


def _session_subject(end: SessionEnd) -> Subject:
    return Subject(location_id=end.room_id, patient_id=end.patient_id, session_id=end.session_id)


def _session_words(words: Words, end: SessionEnd, what: str = "Session") -> str:
    """A session in words: "Session of patient MRN-1 in Room 2 discharged on 2026-03-02
    10:15 CST"."""
    return (f"{what} of {words.patient(end.patient_id)} in {words.location(end.room_id)} "
            f"{code_words(end.status)} on {words.at(end.ended_at)}")  # fmt: skip


def esketamine_dose_unusual(facts: Facts, settings: Settings) -> list[Found]:
    """An esketamine session discharged after a dose other than 56 or 84 mg (two or three
    devices; Spravato labelling): a device withdrawn and not given, or one too many."""
    doses = " or ".join(format_quantity(dose) for dose in ESKETAMINE_DOSES_MG)
    return [
        Found(Finding(rule="esketamine_dose_unusual", severity=Severity.significant,
                      fingerprint=f"esketamine_dose_unusual:session:{end.session_id}",
                      summary=f"{_session_words(facts.words, end, 'Esketamine session')} after "
                              f"{format_quantity(given)} mg given, not {doses} mg",
                      details={"session_id": str(end.session_id)}),
              event_ids=end.event_ids, staff_ids=end.staff_ids, subject=_session_subject(end))
        for end in facts.session_ends
        if (given := end.esketamine_mg) is not None and given not in ESKETAMINE_DOSES_MG
    ]  # fmt: skip


def waste_witnessing(facts: Facts, settings: Settings) -> list[Found]:
    """Waste not confirmed by a witness other than the waster, or recorded later than the
    window after the withdrawal (DEA's guidance on wastage; practice: witnessed and prompt)."""
    found: list[Found] = []
    words = facts.words
    for waste in facts.waste:
        independent = set(waste.confirmed_by) - {waste.performed_by}
        waster = words.staff(waste.performed_by) if waste.performed_by else None
        others = f" other than its waster, {waster}," if waster else ""
        late_by = waste.recorded_at - waste.first_withdrawal_at
        checks = [
            ("waste_witnessed_by_waster", Severity.significant,
             waste.performed_by is not None and waste.performed_by in waste.witness_ids,
             f"its waster, {waster}, is named as its witness"),
            ("waste_unwitnessed", Severity.significant, not independent,
             f"no witness{others} confirmed it"),
            ("waste_late", Severity.minor, late_by > settings.waste_window,
             f"recorded {minutes_words(late_by)} after the session's first withdrawal, past "
             f"the {minutes_words(settings.waste_window)} allowed"),
        ]  # fmt: skip
        said = _waste_words(words, waste)
        found.extend(
            Found(Finding(rule=code, severity=severity,
                          fingerprint=f"{code}:event:{waste.event_id}",
                          summary=f"{said}: {why}",
                          details={"session_id": str(waste.session_id)}),
                  event_ids=(waste.event_id,),
                  staff_ids=tuple(filter(None, [waste.performed_by])),
                  subject=Subject(location_id=waste.room_id, lot_id=waste.lot_id,
                                  product_id=waste.product_id, patient_id=waste.patient_id,
                                  session_id=waste.session_id))
            for code, severity, broken, why in checks if broken
        )  # fmt: skip
    return found


def _waste_words(words: Words, waste: Waste) -> str:
    """A waste in words: "Waste of 0.4 mL of lot KA2611 in the session of patient MRN-1 in
    Room 2 on 2026-03-02 10:15 CST"."""
    return (f"Waste of {words.quantity(waste.quantity, waste.product_id)} of "
            f"{words.lot(waste.lot_id)} in the session of {words.patient(waste.patient_id)} in "
            f"{words.location(waste.room_id)} on {words.at(waste.occurred_at)}")  # fmt: skip


def monitoring_form_overdue(facts: Facts, settings: Settings) -> list[Found]:
    """An esketamine session's Patient Monitoring Form not submitted within 7 days (Spravato
    REMS)."""
    return [
        Found(Finding(rule="monitoring_form_overdue", severity=Severity.significant,
                      fingerprint=f"monitoring_form_overdue:session:{form.session_id}",
                      summary=_form_words(facts.words, form, facts.today),
                      details={"session_id": str(form.session_id)}),
              staff_ids=form.staff_ids,
              subject=Subject(location_id=form.room_id, patient_id=form.patient_id,
                              session_id=form.session_id))
        for form in facts.monitoring_forms
        if (form.submitted_on or facts.today) > form.due_on
    ]  # fmt: skip


def _form_words(words: Words, form: MonitoringForm, today: date) -> str:
    """A late form in words: "Patient Monitoring Form of the esketamine session of patient
    MRN-1 in Room 2, discharged 2026-03-02 10:15 CST: due 2026-03-09, not submitted (2 days
    late)"."""
    late = ((form.submitted_on or today) - form.due_on).days
    state = f"submitted {form.submitted_on.isoformat()}" if form.submitted_on else "not submitted"
    return (f"Patient Monitoring Form of the esketamine session of "
            f"{words.patient(form.patient_id)} in {words.location(form.room_id)}, discharged "
            f"{words.at(form.ended_at)}: due {form.due_on.isoformat()}, {state} "
            f"({days_words(late)} late)")  # fmt: skip


def expired_stock_on_hand(facts: Facts, settings: Settings) -> list[Found]:
    """Stock of an expired lot (or one past its beyond-use date) still on hand: to be destroyed
    or returned (21 CFR Part 1317), never dispensed."""
    words = facts.words
    return [
        Found(Finding(rule="expired_stock_on_hand", severity=Severity.minor,
                      fingerprint=f"expired_stock_on_hand:{stock.location_id}:{stock.lot_id}",
                      summary=f"{words.quantity(stock.quantity, stock.product_id)} of lot "
                              f"{stock.lot_number} ({words.product(stock.product_id)}) at "
                              f"{words.location(stock.location_id)}, expired "
                              f"{stock.expires_on.isoformat()}, still on hand"),
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
        since = f"stock first handled {due.isoformat()}"
    else:
        last = facts.last_full_inventory_on
        due = _years_later(last, INVENTORY_YEARS)
        what = "biennial inventory"
        since = f"the last full inventory taken {last.isoformat()}"
    if facts.today < due - settings.inventory_warning:
        return []
    overdue = facts.today > due
    late = f", {days_words((facts.today - due).days)} late" if overdue else ""
    return [Found(Finding(
        rule="inventory_due", severity=Severity.significant if overdue else Severity.info,
        fingerprint=f"inventory_due:{what.split()[0]}:{due.isoformat()}",
        summary=f"{sentence(what)} {'overdue since' if overdue else 'due'} {due.isoformat()} "
                f"({since}){late}",
    ))]  # fmt: skip


def dea_report_overdue(facts: Facts, settings: Settings) -> list[Found]:
    """A theft or significant loss whose written notice (one business day after discovery) or
    DEA Form 106 (45 days) is past due and not given (21 CFR 1301.76(b))."""
    found = []
    for report in facts.open_reports:
        late = [(what, due) for what, due, done in (
            ("written notice", report.notice_due_on, report.notice_given),
            ("DEA Form 106", report.form_106_due_on, False),
        ) if facts.today > due and not done]  # fmt: skip
        if late:
            found.append(Found(
                Finding(rule="dea_report_overdue", severity=Severity.critical,
                        fingerprint=f"dea_report_overdue:{report.discrepancy_id}",
                        summary=_report_words(facts.words, report, late),
                        details={"discrepancy_id": str(report.discrepancy_id),
                                 "late": [what for what, _ in late]}),
                event_ids=report.event_ids, staff_ids=report.staff_ids, subject=report.subject,
            ))  # fmt: skip
    return found


def _report_words(words: Words, report: OpenReport, late: list[tuple[str, date]]) -> str:
    """A report owed in words: "Written notice (due 2026-03-03) overdue to the DEA, for
    theft of 2 mL of … at Vault, discovered 2026-03-02 10:15 CST"."""
    owed = " and ".join(f"{what} (due {due.isoformat()})" for what, due in late)
    found = f", discovered {words.at(report.discovered_at)}" if report.discovered_at else ""
    return f"{sentence(owed)} overdue to the DEA, for {lowered(report.summary)}{found}"


def peer_outliers(facts: Facts, settings: Settings) -> list[Found]:
    """Staff far from their peers doing like work (app/reconciliation/peers.py)."""
    return outliers(facts.peer_stats, settings.peers, facts.words)


def invoice_matching(facts: Facts, settings: Settings) -> list[Found]:
    """Suppliers' invoices against the receipts naming them
    (app/reconciliation/invoice_rules.py)."""
    return invoice_rules.invoice_matching(facts, settings.invoice_grace)


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
    "invoice_matching": invoice_matching,
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
