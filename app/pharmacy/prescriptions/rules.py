"""The rules of 21 CFR Part 1306 a prescription or a fill can break (pure functions).

Receiving a prescription and filling it are instructions when a pharmacist does them now
(docs/adr/0007-instructions-and-records.md): a broken rule refuses them with its own problem
type. These rules are the law, not a judgement, so no override excuses them; the one exception
is an early refill, which a pharmacist may make with its reason recorded. A record (an
integration's, or a late entry) is stored with what it broke.
"""

import calendar
import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from app.core.errors import AppError
from app.core.overrides import RuleBook

MAX_REFILLS = 5
"""Schedule III: at most five refills (1306.22)."""
MONTHS_VALID = 6
"""No fill or refill later than six months after the date of issue (1306.22, 1306.23)."""
COVERING_SCHEDULES = frozenset({"3N", "3"})
"""A registration for either covers ketamine (Schedule III non-narcotic)."""


class RxRule(StrEnum):
    telemedicine_flexibility_ended = "telemedicine_flexibility_ended"
    prescriber_registration_expired = "prescriber_registration_expired"
    prescriber_schedule_not_authorised = "prescriber_schedule_not_authorised"
    prescription_cancelled = "prescription_cancelled"
    refills_exhausted = "refills_exhausted"
    fill_after_six_months = "fill_after_six_months"
    fills_exceed_total = "fills_exceed_total"
    filled_before_issue = "filled_before_issue"
    fill_spans_fillings = "fill_spans_fillings"
    early_refill = "early_refill"


NEVER_OVERRIDDEN = frozenset(RxRule) - {RxRule.early_refill}


def not_fillable_because(
    *, cancelled: bool, today: date, fill_by: date, remaining: Decimal
) -> str | None:
    """Why no fill may be dispensed today, as a pharmacist reads it; None while one may."""
    if cancelled:
        return "cancelled"
    if today > fill_by:
        return f"more than six months after issue: the last day to fill was {fill_by:%d %b %Y}"
    if remaining <= 0:
        return "the quantity prescribed with its refills has been dispensed"
    return None


def six_months_after(issued_on: date) -> date:
    """The last day a Schedule III prescription may be filled: the same day six months on, or
    that month's last day when it has no such day (31 August: 28 or 29 February)."""
    month_index = issued_on.month - 1 + MONTHS_VALID
    year, month = issued_on.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(issued_on.day, calendar.monthrange(year, month)[1]))


# Receiving


@dataclass(frozen=True, slots=True)
class ReceiptFacts:
    telehealth: bool
    in_person_evaluation_on: date | None
    issued_on: date
    flexibility_ends_on: date
    prescriber_expires_on: date
    prescriber_schedules: frozenset[str]


def receipt_breaks(f: ReceiptFacts) -> list[RxRule]:
    broken = []
    if f.telehealth and f.in_person_evaluation_on is None and f.issued_on > f.flexibility_ends_on:
        broken.append(RxRule.telemedicine_flexibility_ended)
    if f.prescriber_expires_on < f.issued_on:
        broken.append(RxRule.prescriber_registration_expired)
    if f.prescriber_schedules.isdisjoint(COVERING_SCHEDULES):
        broken.append(RxRule.prescriber_schedule_not_authorised)
    return broken


# Filling


@dataclass(frozen=True, slots=True)
class PreviousFill:
    """A filling's first fill (not reversed): its day and the filling's quantity."""

    day: date
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class FillFacts:
    cancelled: bool
    issued_on: date
    day: date
    """The day of this fill, where the pharmacy is."""
    quantity: Decimal
    prescribed_quantity: Decimal
    refills_authorized: int
    dispensed_before: Decimal
    """What the prescription's fills (not reversed) up to this one's time dispensed."""
    previous: PreviousFill | None
    """The start of the previous filling, if there was one."""
    days_supply: int
    early_share_percent: int
    prescriber_expires_on: date
    dispensed_later: Decimal = Decimal(0)
    """What fills dated after this one dispensed (this one is a late entry): they count
    toward the total, not toward this fill's place."""


def total_authorized(prescribed_quantity: Decimal, refills_authorized: int) -> Decimal:
    return prescribed_quantity * (1 + min(refills_authorized, MAX_REFILLS))


def refill_number(prescribed_quantity: Decimal, dispensed_before: Decimal) -> int:
    """Which filling a fill belongs to: 0 for the original, then each refill; partial fills of
    one filling share its number (they are recorded as refills are, 1306.23)."""
    return int(dispensed_before // prescribed_quantity)


def is_partial(f: FillFacts) -> bool:
    return f.quantity < f.prescribed_quantity or f.dispensed_before % f.prescribed_quantity != 0


def starts_filling(f: FillFacts) -> bool:
    """Whether this fill begins a filling (the original or a refill) rather than completing
    a partly filled one."""
    return f.dispensed_before % f.prescribed_quantity == 0


def early_until(f: FillFacts) -> date | None:
    """The first day a refill is not early: the configured share of the days the previous
    filling supplied (in proportion to its quantity) after it began. Completing a partly
    filled filling is never early."""
    if f.previous is None or not starts_filling(f):
        return None
    # Exact fractions: a share that is a whole number of days must not round up to the next.
    share = (
        Fraction(f.days_supply) * Fraction(f.previous.quantity) * f.early_share_percent
        / (Fraction(f.prescribed_quantity) * 100)
    )  # fmt: skip
    return f.previous.day + timedelta(days=math.ceil(share))


def fill_breaks(f: FillFacts) -> list[RxRule]:
    broken = []
    if f.cancelled:
        broken.append(RxRule.prescription_cancelled)
    dispensed = f.dispensed_before + f.dispensed_later
    remaining = total_authorized(f.prescribed_quantity, f.refills_authorized) - dispensed
    if remaining <= 0:
        broken.append(RxRule.refills_exhausted)
    elif f.quantity > remaining:
        broken.append(RxRule.fills_exceed_total)
    elif f.quantity > f.prescribed_quantity - f.dispensed_before % f.prescribed_quantity:
        broken.append(RxRule.fill_spans_fillings)
    if f.day > six_months_after(f.issued_on):
        broken.append(RxRule.fill_after_six_months)
    if f.day < f.issued_on:
        broken.append(RxRule.filled_before_issue)
    if f.prescriber_expires_on < f.day:
        broken.append(RxRule.prescriber_registration_expired)
    until = early_until(f)
    if until is not None and f.day < until:
        broken.append(RxRule.early_refill)
    return broken


# Problems


class PrescriptionRuleBroken(AppError):
    """Base of the per-rule problems; never raised itself."""

    slug = "prescription-rule-broken"
    status = 422
    title = "Prescription rule broken"
    description = "The prescription or fill breaks a rule of 21 CFR Part 1306."


_DESCRIBED: dict[RxRule, tuple[str, str]] = {
    RxRule.telemedicine_flexibility_ended: ("Telemedicine flexibility ended",
        "A telehealth prescription without an in-person evaluation, issued after the "
        "telemedicine flexibility ended (21 CFR 1307.41)."),
    RxRule.prescriber_registration_expired: ("Prescriber registration expired",
        "The prescriber's DEA registration had expired on the day of issue or of the fill."),
    RxRule.prescriber_schedule_not_authorised: ("Prescriber not registered for Schedule III",
        "The prescriber's DEA registration does not cover Schedule III non-narcotics."),
    RxRule.prescription_cancelled: ("Prescription cancelled",
        "A cancelled prescription is not filled."),
    RxRule.refills_exhausted: ("Refills exhausted",
        "The original and every authorised refill (five at most) have been dispensed."),
    RxRule.fill_after_six_months: ("More than six months after issue",
        "No Schedule III fill or refill is dispensed later than six months after the date of "
        "issue (21 CFR 1306.22)."),
    RxRule.fills_exceed_total: ("Fills exceed the total prescribed",
        "This fill would take the fills past the quantity prescribed with its refills "
        "(21 CFR 1306.23)."),
    RxRule.filled_before_issue: ("Filled before issue",
        "A fill is dated before the prescription's date of issue."),
    RxRule.fill_spans_fillings: ("Fill spans fillings",
        "One dispensing gives no more than what is left of the current filling (the original "
        "or a refill): each refill is its own dispensing, recorded as such (1306.22)."),
    RxRule.early_refill: ("Early refill",
        "A refill before the configured share of the previous fill's days supply has passed "
        "needs early_refill_reason."),
}  # fmt: skip
"""Each rule's problem: its title and description."""

BOOK = RuleBook.of(PrescriptionRuleBroken, _DESCRIBED, never=NEVER_OVERRIDDEN,
                   field="early_refill_reason")  # fmt: skip
