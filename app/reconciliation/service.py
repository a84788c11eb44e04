"""Discrepancies: opened (or brought up to date) by findings, moved by compliance officers,
and cured by the runs that no longer find them.

A finding found again updates its discrepancy, never opens a second (a partial unique index
keeps one per fingerprint that no person has closed, also under concurrent writers); a cured
one is opened again, the same discrepancy with its history; one that recurs after a person
closed its discrepancy opens a new one linked to the old. A person's transitions move forward
only, each kept with who and when; nobody moves a discrepancy about their own work.
"""

import uuid
from collections.abc import Callable, Collection, Container
from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Select, String, cast, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.core import outbox
from app.core.db import where_given
from app.core.errors import Conflict, InvalidInput, PermissionDenied
from app.reconciliation import clocks, findings, schemas
from app.reconciliation.messages import DISCREPANCY_OPENED, DISCREPANCY_TRANSITIONED
from app.reconciliation.models import Discrepancy, DiscrepancyTransition
from app.reconciliation.workflow import CLOSED, CURABLE, ReasonCode, Status, may_move
from app.registry.models import Registrant, Staff
from app.registry.service import holidays_of


class TransitionNotAllowed(Conflict):
    slug = "transition-not-allowed"
    title = "Transition not allowed"
    description = (
        "Discrepancies move forward only: open, acknowledged, then resolved or unable to "
        "reconcile, then reported; a theft or significant loss may be reported directly."
    )


class OwnWork(PermissionDenied):
    slug = "own-work"
    title = "About your own work"
    description = "Nobody moves a discrepancy about their own work (separation of duties)."


# Findings: opened, found again, cured


class Outcome(StrEnum):
    opened = "opened"
    """A new discrepancy."""
    reopened = "reopened"
    """A cured one, open again."""
    updated = "updated"
    """An open one, brought up to date."""


class Recorded(NamedTuple):
    discrepancy: Discrepancy
    outcome: Outcome


class Mover(NamedTuple):
    """Who moves a discrepancy: a person's token subject and name, or a run."""

    subject: str
    name: str


RECONCILIATION = Mover("urn:csledger:reconciliation", "Reconciliation run")
"""Who a run's own moves are by: no person."""


async def record_finding(
    db: AsyncSession,
    *,
    registrant_id: uuid.UUID,
    finding: findings.Finding,
    now: datetime,
    event_ids: list[uuid.UUID],
    staff_ids: list[uuid.UUID],
    subjects: list[str] | None = None,
    about: findings.Subject = findings.NO_SUBJECT,
    run_id: uuid.UUID | None = None,
) -> Recorded:
    """Open a discrepancy for ``finding``, or bring the one no person has closed up to date
    (opening it again if it was cured: ``run_id`` names the run that found it again)."""
    named = Named(event_ids, staff_ids, subjects or [], about)
    current = await _open_for(db, registrant_id, finding.fingerprint)
    if current is not None:
        return await _found_again(db, current, finding, named, now, run_id)
    previous = await db.scalar(
        select(Discrepancy.id)
        .where(Discrepancy.registrant_id == registrant_id,
               Discrepancy.fingerprint == finding.fingerprint)
        .order_by(Discrepancy.created_at.desc())
        .limit(1)
    )  # fmt: skip
    opened = Discrepancy(
        id=uuid.uuid4(), registrant_id=registrant_id, rule=finding.rule,
        severity=finding.severity.value, status=Status.open.value,
        fingerprint=finding.fingerprint, summary=finding.summary, details=finding.details,
        event_ids=[str(e) for e in event_ids], staff_ids=[str(s) for s in staff_ids],
        subjects=subjects or [], product_id=about.product_id, location_id=about.location_id,
        lot_id=about.lot_id, patient_id=about.patient_id, session_id=about.session_id,
        reportable=finding.reportable, discovered_at=finding.discovered_at,
        previous_id=previous, first_found_at=now, last_found_at=now, version=1,
        created_at=now, updated_at=now,
        **await _clocks(db, registrant_id, finding.discovered_at),
    )  # fmt: skip
    try:
        async with db.begin_nested():
            db.add(opened)
    except IntegrityError:  # opened meanwhile by a concurrent writer: update that one
        found = await _open_for(db, registrant_id, finding.fingerprint)
        assert found is not None
        return await _found_again(db, found, finding, named, now, run_id)
    await _announce(db, DISCREPANCY_OPENED, opened, now, {})
    return Recorded(opened, Outcome.opened)


async def cure(
    db: AsyncSession,
    *,
    registrant_id: uuid.UUID,
    rules: Collection[str],
    still_found: Container[str],
    why: Callable[[Discrepancy], str],
    now: datetime,
    run_id: uuid.UUID | None,
) -> int:
    """Cure the open or acknowledged discrepancies of ``rules`` (those a run judges afresh
    each time) whose finding the run no longer found: each moves to cured, with a transition
    naming the run and saying ``why``. Returns how many."""
    curable = await db.scalars(
        select(Discrepancy)
        .where(Discrepancy.registrant_id == registrant_id, Discrepancy.rule.in_(list(rules)),
               Discrepancy.status.in_([s.value for s in CURABLE]))
        .order_by(Discrepancy.id)
        .with_for_update()
    )  # fmt: skip
    gone = [found for found in curable if found.fingerprint not in still_found]
    for found in gone:
        await _move(db, found, Status.cured, by=RECONCILIATION, now=now, note=why(found),
                    run_id=run_id)  # fmt: skip
    return len(gone)


async def cure_finding(
    db: AsyncSession,
    *,
    registrant_id: uuid.UUID,
    fingerprint: str,
    by: Mover,
    note: str,
    now: datetime,
) -> bool:
    """Cure the open or acknowledged discrepancy of one finding whose condition a workflow
    ended (a record kept unposted, posted at last), ``note`` saying how; False when there is
    none (a person had judged it already)."""
    found = await _open_for(db, registrant_id, fingerprint)
    if found is None or Status(found.status) not in CURABLE:
        return False
    await _move(db, found, Status.cured, by=by, now=now, note=note)
    return True


async def _announce(
    db: AsyncSession, topic: str, found: Discrepancy, now: datetime, extra: dict[str, Any]
) -> None:
    payload = {"discrepancy_id": str(found.id), "rule": found.rule, "severity": found.severity,
               "status": found.status, "reportable": found.reportable,
               "version": found.version, **extra}  # fmt: skip
    await outbox.publish(db, topic=topic, registrant_id=found.registrant_id, payload=payload,
                         now=now)  # fmt: skip


class Named(NamedTuple):
    """What a finding names: its events, whose work it is (staff, token subjects), and what
    it is about."""

    event_ids: list[uuid.UUID]
    staff_ids: list[uuid.UUID]
    subjects: list[str]
    about: findings.Subject


async def _found_again(
    db: AsyncSession,
    found: Discrepancy,
    finding: findings.Finding,
    named: Named,
    now: datetime,
    run_id: uuid.UUID | None,
) -> Recorded:
    """The finding as it stands now: what it says, how much it weighs (an inventory due
    becomes overdue, a pattern of shortfalls grows), what it names and is about, and, once
    reportable, the DEA's clocks; open again if a run had cured it."""
    found.last_found_at = max(found.last_found_at, now)
    found.summary = finding.summary
    found.details = finding.details
    found.severity = finding.severity.value
    found.name_more(named.about, named.event_ids, named.staff_ids, named.subjects)
    if finding.reportable and not found.reportable:
        found.reportable = True
        found.discovered_at = finding.discovered_at
        for name, day in (await _clocks(db, found.registrant_id, finding.discovered_at)).items():
            setattr(found, name, day)
    if found.status != Status.cured:
        return Recorded(found, Outcome.updated)
    await _move(db, found, Status.open, by=RECONCILIATION, now=now, run_id=run_id,
                note="found again")  # fmt: skip
    return Recorded(found, Outcome.reopened)


async def _open_for(
    db: AsyncSession, registrant_id: uuid.UUID, fingerprint: str
) -> Discrepancy | None:
    return await db.scalar(
        select(Discrepancy)
        .where(Discrepancy.registrant_id == registrant_id,
               Discrepancy.fingerprint == fingerprint,
               Discrepancy.status.not_in([s.value for s in CLOSED]))
        .with_for_update()
    )  # fmt: skip


async def _clocks(
    db: AsyncSession, registrant_id: uuid.UUID, discovered_at: datetime | None
) -> dict[str, date | None]:
    """The DEA's due dates of a reportable finding, on the registrant's days."""
    if discovered_at is None:
        return {"notice_due_on": None, "form_106_due_on": None}
    registrant = await db.get(Registrant, registrant_id)
    assert registrant is not None
    discovered_on = discovered_at.astimezone(ZoneInfo(registrant.timezone)).date()
    return {
        "notice_due_on": clocks.notice_due_on(discovered_on, holidays_of(registrant)),
        "form_106_due_on": clocks.form_106_due_on(discovered_on),
    }


# Reading


async def get_discrepancy(
    db: AsyncSession, discrepancy_id: uuid.UUID, *, principal: Principal, lock: bool = False
) -> Discrepancy:
    found = await get_readable(db, Discrepancy, discrepancy_id, principal, what="discrepancy",
                             lock=lock)  # fmt: skip
    principal.require(Permission.reports)
    return found


def discrepancies_query(
    principal: Principal, filters: schemas.DiscrepancyFilters
) -> Select[Discrepancy]:
    principal.require(Permission.reports)
    statement = within_registrants(
        select(Discrepancy), Discrepancy.registrant_id, principal, filters.registrant_id
    )
    statement = where_given(
        statement,
        (Discrepancy.status, filters.status.value if filters.status else None),
        (Discrepancy.severity, filters.severity.value if filters.severity else None),
        (Discrepancy.rule, filters.rule),
        (Discrepancy.product_id, filters.product_id),
        (Discrepancy.lot_id, filters.lot_id),
        (Discrepancy.location_id, filters.location_id),
        (Discrepancy.assigned_to, filters.assigned_to),
    )
    if filters.staff_id is not None:  # whose work it is about (a JSON list of ids)
        statement = statement.where(
            cast(Discrepancy.staff_ids, String).contains(str(filters.staff_id))
        )
    if filters.found_from is not None:
        statement = statement.where(Discrepancy.last_found_at >= filters.found_from)
    if filters.found_to is not None:
        statement = statement.where(Discrepancy.first_found_at < filters.found_to)
    return statement


async def transitions_of(
    db: AsyncSession, discrepancy_id: uuid.UUID
) -> list[DiscrepancyTransition]:
    rows = await db.scalars(
        select(DiscrepancyTransition)
        .where(DiscrepancyTransition.discrepancy_id == discrepancy_id)
        .order_by(DiscrepancyTransition.version)
    )
    return list(rows)


# Moving


async def transition(
    db: AsyncSession,
    discrepancy_id: uuid.UUID,
    data: schemas.TransitionCreate,
    caller: Caller,
) -> Discrepancy:
    found = await get_discrepancy(db, discrepancy_id, principal=caller.principal, lock=True)
    caller.principal.require(Permission.adjust_reverse_resolve)
    current = Status(found.status)
    if not may_move(current, data.to, rule=found.rule, reportable=found.reportable):
        raise TransitionNotAllowed(
            f"a discrepancy {current.value} does not move to {data.to.value}"
        )
    await not_own_work(db, found, caller.principal)
    registrant = await db.get(Registrant, found.registrant_id)
    assert registrant is not None
    _check_content(data, found, registrant, caller.now)
    if data.reason_code is not None:
        found.reason_code = data.reason_code.value
    if data.to is Status.reported:
        found.notice_given_on = data.notice_given_on
        found.reported_on = data.reported_on
        found.report_reference = data.report_reference
    await _move(
        db, found, data.to, now=caller.now,
        by=Mover(caller.principal.subject, caller.principal.name),
        reason_code=data.reason_code, note=data.note, notice_given_on=data.notice_given_on,
        reported_on=data.reported_on, report_reference=data.report_reference,
    )  # fmt: skip
    return found


async def _move(
    db: AsyncSession,
    found: Discrepancy,
    to: Status,
    *,
    by: Mover,
    now: datetime,
    reason_code: ReasonCode | None = None,
    note: str | None = None,
    notice_given_on: date | None = None,
    reported_on: date | None = None,
    report_reference: str | None = None,
    run_id: uuid.UUID | None = None,
) -> None:
    """Move ``found`` to ``to``, kept as its next transition, and announce it."""
    current = found.status
    db.add(DiscrepancyTransition(
        id=uuid.uuid4(), registrant_id=found.registrant_id, discrepancy_id=found.id,
        version=found.version + 1, from_status=current, to_status=to.value,
        reason_code=reason_code.value if reason_code else None, note=note,
        notice_given_on=notice_given_on, reported_on=reported_on,
        report_reference=report_reference, by_subject=by.subject, by_name=by.name, at=now,
        run_id=run_id,
    ))  # fmt: skip
    found.status = to.value
    found.version += 1
    found.updated_at = now
    await db.flush()
    await _announce(db, DISCREPANCY_TRANSITIONED, found, now,
                    {"from_status": current, "reason_code": found.reason_code})  # fmt: skip


async def not_own_work(db: AsyncSession, found: Discrepancy, principal: Principal) -> None:
    """The caller recorded, performed or witnessed what it is about (as any staff row of
    theirs at the registrant, active or not)."""
    mine = await db.scalars(
        select(Staff.id).where(Staff.registrant_id == found.registrant_id,
                               Staff.subject == principal.subject)
    )  # fmt: skip
    if principal.subject in found.subjects or {str(i) for i in mine} & set(found.staff_ids):
        raise OwnWork("this discrepancy is about your own work: another officer moves it")


def _check_content(
    data: schemas.TransitionCreate, found: Discrepancy, registrant: Registrant, now: datetime
) -> None:
    """A resolution says why; a report says when (the notice too, for a theft or loss) and
    under which reference, on days between the discovery and today."""
    if data.to is Status.resolved and data.reason_code is None:
        raise InvalidInput.at("#/reason_code", "a resolution gives its reason code")
    if data.reason_code is ReasonCode.other and data.note is None:
        raise InvalidInput.at("#/note", "the reason 'other' is explained in a note")
    if data.to is not Status.reported:
        return
    if data.reported_on is None or data.report_reference is None:
        raise InvalidInput.at("#/reported_on", "a report gives its date and reference")
    if found.reportable and data.notice_given_on is None:
        raise InvalidInput.at("#/notice_given_on", "the DEA's written notice comes first")
    zone = ZoneInfo(registrant.timezone)
    earliest = (found.discovered_at or found.first_found_at).astimezone(zone).date()
    today = now.astimezone(zone).date()
    for field in ("notice_given_on", "reported_on"):
        day = getattr(data, field)
        if day is not None and not earliest <= day <= today:
            raise InvalidInput.at(f"#/{field}", "between the discovery and today")
