"""A discrepancy's life: the statuses it moves through, and the reason codes that close it.

A person moves it: open -> acknowledged -> resolved (with a reason code) or
unable_to_reconcile -> reported (the Form 106 date and reference); a theft or significant loss
may go straight to reported. Nothing a person did moves back: a finding that recurs after a
person closed it opens a new discrepancy linked to the old.

A reconciliation run moves it too, for the findings it judges afresh at every run (the
registrant's standing on the run's day: an inventory due, a DEA report overdue, expired stock
on hand): one it no longer finds, open or acknowledged, is cured; a cured one found again is
open again, the same discrepancy with its history.
"""

from enum import StrEnum


class Status(StrEnum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"
    unable_to_reconcile = "unable_to_reconcile"
    reported = "reported"
    cured = "cured"
    """Its condition no longer held at a run (set by the run, never by a person)."""


class Severity(StrEnum):
    info = "info"
    minor = "minor"
    significant = "significant"
    critical = "critical"


class ReasonCode(StrEnum):
    """Why a discrepancy is resolved: the diversion-control products' one list
    (docs/domain.md#reason-codes)."""

    not_charted = "not_charted"
    charted_late = "charted_late"
    """Documentation corrected."""
    wrong_patient_charted = "wrong_patient_charted"
    waste_documented_elsewhere = "waste_documented_elsewhere"
    waste_outside_window = "waste_outside_window"
    count_error = "count_error"
    breakage_documented = "breakage_documented"
    potential_diversion = "potential_diversion"
    other = "other"
    """With text."""


NEXT: dict[Status, frozenset[Status]] = {
    Status.open: frozenset({Status.acknowledged}),
    Status.acknowledged: frozenset({Status.resolved, Status.unable_to_reconcile}),
    Status.unable_to_reconcile: frozenset({Status.reported}),
    Status.resolved: frozenset(),
    Status.reported: frozenset(),
    Status.cured: frozenset(),
}
"""Where a person may move each status next."""

STRAIGHT_TO_REPORTED = frozenset({Status.open, Status.acknowledged})
"""Where a reportable discrepancy (a theft, a significant loss) may go straight to reported."""

CLOSED = frozenset({Status.resolved, Status.reported})
"""Closed by a person: a finding found again opens a new discrepancy."""
CURABLE = frozenset({Status.open, Status.acknowledged})
"""Where a run cures a finding it no longer finds (not once a person has judged it)."""


MUST_BE_REPORTED = frozenset({"theft"})
"""Rules whose discrepancies end only in a report: a theft is always reported (1301.76(b))."""


def may_move(current: Status, to: Status, *, rule: str, reportable: bool) -> bool:
    if rule in MUST_BE_REPORTED and to in (Status.resolved, Status.unable_to_reconcile):
        return False
    if to in NEXT[current]:
        return True
    return reportable and to is Status.reported and current in STRAIGHT_TO_REPORTED
