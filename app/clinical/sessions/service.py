"""Sessions: a patient's visit under an in-clinic plan, each step moving stock through the
ledger in the same transaction (steps.py), until it ends (ending.py).

Stock withdrawn for a session moves (a ledger ``move``) from storage into the session's own
holding, an ``in_use`` location; administrations, waste and returns draw from it, so nothing
is counted twice and what is left at the end is the unresolved amount
(docs/domain.md#session-holding). Each step locks the session's row first, so concurrent steps
of one session take turns.

This module creates and reads sessions, and holds what every step shares: taking the session
in hand, judging the rules a step breaks, and keeping every version.
"""

import dataclasses
import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import IntegrationScope, Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.catalog.substances import DosageForm, Substance
from app.clinical.models import TreatmentPlan
from app.clinical.schemas import Modality, PlanStatus
from app.clinical.sessions import rules, schemas
from app.clinical.sessions.authorization_schemas import AuthorizedStep
from app.clinical.sessions.authorizations import judge
from app.clinical.sessions.models import TreatmentSession
from app.clinical.sessions.types import SessionStatus
from app.core.db import where_given
from app.core.errors import Conflict, InvalidInput
from app.core.instants import printed_instant
from app.core.quantity import rounded
from app.core.revisions import keep_version, revise
from app.core.tenancy import find, invalid, referenced
from app.ledger.messages import announce_broken_rules
from app.ledger.schemas import EventCreate
from app.ledger.types import EventType
from app.registry.enums import LocationKind, RemsCertificationStatus
from app.registry.models import LOCATION_NAME_LENGTH, Location, Patient, Registrant, Staff
from app.registry.people import acting_staff, owned_staff
from app.registry.service import get_registrant, local_date

Status = SessionStatus

PRODUCT_OF: dict[Modality, tuple[Substance, DosageForm]] = {
    Modality.iv_infusion: (Substance.ketamine, DosageForm.injection),
    Modality.esketamine_nasal: (Substance.esketamine, DosageForm.nasal_spray),
}
"""What each in-clinic modality gives: the substance and form its lots must be of."""


class SessionStateConflict(Conflict):
    slug = "session-state"
    title = "Not allowed in the session's state"
    description = (
        "A session moves forward only (scheduled, in progress, observing, then discharged or "
        "aborted); this step belongs to another state."
    )


# Creating


async def create_session(
    db: AsyncSession, *, data: schemas.SessionCreate, caller: Caller
) -> TreatmentSession:
    principal = caller.principal
    registrant = await get_registrant(db, data.registrant_id, principal=principal)
    principal.require(Permission.sessions)
    rid = registrant.id
    patient = await referenced(
        db, Patient, data.patient_id, registrant_id=rid, pointer="#/patient_id", what="patient"
    )
    plan = await _in_clinic_plan(db, data)
    location = await referenced(db, Location, data.location_id, registrant_id=rid,
                                pointer="#/location_id", what="location")  # fmt: skip
    if location.kind == LocationKind.in_use:
        raise invalid("#/location_id", "room (a session's holding is not one)")
    await owned_staff(db, data.staff_ids, registrant_id=rid, pointer="#/staff_ids")
    modality = Modality(plan.modality)
    facts = rules.SchedulingFacts(
        modality=modality,
        rems=rems_now(registrant, patient),
        day=local_date(registrant, data.scheduled_at),
        plan_starts_on=plan.starts_on,
        plan_ends_on=plan.ends_on,
        sessions_per_week=plan.sessions_per_week,
        total_sessions=plan.total_sessions,
        overlapping=await _overlapping(db, patient.id, data.scheduled_at, caller),
        **await _plan_sessions(db, plan, registrant, data.scheduled_at),
    )
    why = rules.scheduling_explained(facts, ZoneInfo(registrant.timezone))
    broken = await judge(db, rules.scheduling_breaks(facts), data, caller,
                         step=AuthorizedStep.scheduling, when=data.scheduled_at,
                         registrant_id=rid, plan_id=plan.id, why=why)  # fmt: skip
    session_id = uuid.uuid4()
    held_at = holding_name(location, data.scheduled_at.astimezone(ZoneInfo(registrant.timezone)),
                           session_id)  # fmt: skip
    holding = Location(
        id=uuid.uuid4(), registrant_id=rid, name=held_at,
        kind=LocationKind.in_use.value, active=True, session_id=session_id,
        created_at=caller.now,
    )  # fmt: skip
    ts = TreatmentSession(
        id=session_id, registrant_id=rid, patient_id=patient.id, plan_id=plan.id,
        modality=modality.value, location_id=location.id, holding_location_id=holding.id,
        staff_ids=[str(staff_id) for staff_id in data.staff_ids], status=Status.scheduled.value,
        scheduled_at=data.scheduled_at, weight_kg=data.weight_kg,
        expected_dose_mg=_expected_dose(plan, data.weight_kg), broken_rules=broken,
        created_by=principal.subject, version=1, created_at=caller.now,
        updated_at=caller.now,
    )  # fmt: skip
    db.add(holding)
    await db.flush()
    db.add(ts)
    await db.flush()
    await keep_version(db, ts, schemas.SessionRecordOut, by=principal.subject, at=caller.now)
    await announce(db, ts, broken, caller)
    return ts


async def announce(
    db: AsyncSession,
    ts: TreatmentSession,
    entries: list[dict[str, Any]],
    caller: Caller,
    event_ids: tuple[uuid.UUID, ...] = (),
) -> None:
    """Tell reconciliation what a step broke (the entries of :func:`judge`)."""
    for entry in entries:
        await announce_broken_rules(
            db, registrant_id=ts.registrant_id, subject="session", subject_id=ts.id,
            step=entry["step"], rules=entry["rules"], override_reason=entry["override_reason"],
            record=entry["record"], by=entry["by"], at=caller.now, staff_ids=ts.staff_ids,
            event_ids=event_ids, authorized_by=entry.get("authorized_by"),
        )  # fmt: skip


def rems_now(registrant: Registrant, patient: Patient) -> rules.Rems:
    certified = registrant.rems_certification_status == RemsCertificationStatus.certified
    return rules.Rems(setting_certified=certified,
                      patient_enrolled=patient.rems_enrollment_id is not None)  # fmt: skip


async def _in_clinic_plan(db: AsyncSession, data: schemas.SessionCreate) -> TreatmentPlan:
    """The patient's active IV or esketamine plan, locked: sessions counted against it are
    counted one creation at a time."""
    plan = await find(db, TreatmentPlan, data.plan_id, (data.registrant_id,), lock=True)
    if plan is None or plan.patient_id != data.patient_id or plan.modality not in PRODUCT_OF:
        raise invalid("#/plan_id", "IV or esketamine treatment plan of this patient")
    if plan.status != PlanStatus.active:
        raise InvalidInput.at("#/plan_id", f"the plan is {plan.status}, not active")
    if plan.modality == Modality.iv_infusion and data.weight_kg is None:
        raise InvalidInput.at("#/weight_kg", "an IV dose follows from the weight taken that day")
    return plan


def _expected_dose(plan: TreatmentPlan, weight_kg: Decimal | None) -> Decimal:
    if plan.modality == Modality.iv_infusion:
        assert plan.dose_mg_per_kg is not None
        assert weight_kg is not None
        return rounded(plan.dose_mg_per_kg * weight_kg)
    assert plan.dose_mg is not None
    return plan.dose_mg


async def _plan_sessions(
    db: AsyncSession, plan: TreatmentPlan, registrant: Registrant, at: datetime
) -> dict[str, int]:
    """The plan's sessions not aborted: in the (registrant's local, Monday to Sunday) week of
    ``at``, and in all."""
    zone = ZoneInfo(registrant.timezone)
    day = local_date(registrant, at)
    monday = day - timedelta(days=day.weekday())
    week_start = datetime.combine(monday, time(), zone).astimezone(UTC)
    week_end = datetime.combine(monday + timedelta(days=7), time(), zone).astimezone(UTC)
    counted = (TreatmentSession.plan_id == plan.id) & (TreatmentSession.status != Status.aborted)
    in_week = TreatmentSession.scheduled_at.between(week_start, week_end - timedelta.resolution)
    so_far = await db.scalar(select(func.count()).where(counted))
    that_week = await db.scalar(select(func.count()).where(counted & in_week))
    return {"sessions_that_week": that_week or 0, "sessions_so_far": so_far or 0}


async def _overlapping(
    db: AsyncSession, patient_id: uuid.UUID, at: datetime, caller: Caller
) -> tuple[rules.Span, ...]:
    """The patient's sessions (not aborted) whose time overlaps a session starting ``at``."""
    expected = timedelta(minutes=caller.settings.session_expected_minutes)
    nearby = await db.execute(
        select(TreatmentSession.scheduled_at, TreatmentSession.started_at,
               TreatmentSession.ended_at)
        .where(TreatmentSession.patient_id == patient_id,
               TreatmentSession.status != Status.aborted,
               TreatmentSession.scheduled_at.between(at - timedelta(days=1),
                                                     at + timedelta(days=1)))
        .order_by(TreatmentSession.scheduled_at)
    )  # fmt: skip
    new = rules.Span(at, at + expected)
    spans = [_span(scheduled, started, ended, expected) for scheduled, started, ended in nearby]
    return tuple(span for span in spans if span.overlaps(new))


def holding_name(room: Location, scheduled: datetime, session_id: uuid.UUID) -> str:
    """The name a person reads for a session's holding, a place of the ledger's own: its
    room and time ("Procedure room 1, session 2026-11-25 13:00 CST 3fa0b4c5"), the start of
    its id keeping it unique at the registrant (docs/domain.md#session-holding)."""
    suffix = f", session {printed_instant(scheduled)} {session_id.hex[:8]}"
    return room.name[: LOCATION_NAME_LENGTH - len(suffix)] + suffix


def _span(
    scheduled: datetime, started: datetime | None, ended: datetime | None, expected: timedelta
) -> rules.Span:
    start = started or scheduled
    return rules.Span(start, ended or start + expected)


# Reading and locking


async def get_session(
    db: AsyncSession, session_id: uuid.UUID, *, principal: Principal
) -> TreatmentSession:
    """The session, for a caller who may read sessions."""
    ts = await get_readable(db, TreatmentSession, session_id, principal, what="session")
    principal.require(Permission.read_sessions)
    return ts


async def session_to_change(
    db: AsyncSession, session_id: uuid.UUID, *, principal: Principal
) -> TreatmentSession:
    """The session locked for this transaction, for a caller who may record its steps."""
    ts = await get_readable(db, TreatmentSession, session_id, principal, what="session",
                            lock=True)  # fmt: skip
    principal.require(Permission.sessions)
    return ts


def sessions_query(
    principal: Principal,
    *,
    registrant_id: uuid.UUID | None,
    patient_id: uuid.UUID | None,
    plan_id: uuid.UUID | None,
    status: Status | None,
) -> Select[TreatmentSession]:
    principal.require(Permission.read_sessions)
    statement = within_registrants(
        select(TreatmentSession), TreatmentSession.registrant_id, principal, registrant_id
    )
    return where_given(
        statement,
        (TreatmentSession.patient_id, patient_id),
        (TreatmentSession.plan_id, plan_id),
        (TreatmentSession.status, status.value if status else None),
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """A step under way: the session (locked), its registrant, who does it, and the ledger
    caller that may use the session's holding."""

    ts: TreatmentSession
    registrant: Registrant
    staff: Staff | None
    """Who does it (none for a step that records no one's act but the caller's)."""
    caller: Caller

    @property
    def modality(self) -> Modality:
        return Modality(self.ts.modality)

    @property
    def performer(self) -> uuid.UUID:
        assert self.staff is not None
        return self.staff.id

    def event(self, type_: EventType, **fields: Any) -> EventCreate:
        return EventCreate(
            registrant_id=self.ts.registrant_id, type=type_, performed_by=self.performer,
            patient_id=self.ts.patient_id, session_id=self.ts.id, **fields,
        )  # fmt: skip


async def begin_step(
    db: AsyncSession,
    session_id: uuid.UUID,
    caller: Caller,
    *,
    allowed: frozenset[Status],
    performer: uuid.UUID | None = None,
    pointer: str = "#/performed_by",
    acts: bool = True,
) -> Step:
    ts = await session_to_change(db, session_id, principal=caller.principal)
    if ts.status not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise SessionStateConflict(f"the session is {ts.status}; this step needs it {names}")
    registrant = await get_registrant(db, ts.registrant_id, principal=caller.principal)
    staff = None
    if acts:
        staff = await acting_staff(db, registrant_id=ts.registrant_id, named=performer,
                                   principal=caller.principal, pointer=pointer)  # fmt: skip
    principal = caller.principal.acting_through(IntegrationScope.sessions, ts.registrant_id)
    step_caller = dataclasses.replace(caller, principal=principal, holding_session_id=ts.id)
    return Step(ts, registrant, staff, step_caller)


UNDER_WAY = frozenset({Status.in_progress, Status.observing})
OPEN = frozenset({Status.scheduled, Status.in_progress, Status.observing})


def not_before_start(ts: TreatmentSession, when: datetime, pointer: str) -> None:
    if ts.started_at is not None and when < ts.started_at:
        raise InvalidInput.at(pointer, "before the session's first withdrawal")


def not_in_future(when: datetime, caller: Caller, pointer: str) -> None:
    """What a session records has happened: no later than now, give or take the skew."""
    if when > caller.now + timedelta(seconds=caller.settings.future_skew_seconds):
        raise InvalidInput.at(pointer, "cannot lie in the future")


async def changed(db: AsyncSession, step: Step) -> None:
    """The step changed its session: a new version, kept."""
    caller = step.caller
    await revise(db, step.ts, schemas.SessionRecordOut, by=caller.principal.subject,
                 at=caller.now)  # fmt: skip
