"""What the discrepancy queue and a discrepancy's case page show, read through the
reconciliation domain's services, and the queue's filters as its GET form sends them."""

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.catalog.names import Names, StaffName
from app.console.overview import Pressing
from app.core.errors import FieldError, InvalidInput
from app.edge.problems import field_errors
from app.reconciliation import casework, queue, service
from app.reconciliation.models import Discrepancy
from app.reconciliation.schemas import DiscrepancyDetailOut, DiscrepancyFilters
from app.reconciliation.service import OwnWork
from app.reconciliation.views import discrepancies_out, discrepancy_detail
from app.reconciliation.workflow import ReasonCode, Severity, Status, may_move
from app.registry.models import Registrant, Staff
from app.registry.service import get_registrant, local_date, staff_query

PAGE_SIZE = 50
STILL_WORKED = ""
"""The status filter's default: open, acknowledged, unable to reconcile."""
EVERY_STATUS = "all"

E = TypeVar("E", bound=StrEnum)
M = TypeVar("M", bound=BaseModel)


# The queue


@dataclass(frozen=True, slots=True)
class Asked:
    """The queue's filters, as asked: the domain's filters, and the form's own values."""

    filters: DiscrepancyFilters
    status: str
    """STILL_WORKED, EVERY_STATUS, or a status."""
    found_on_from: date | None
    found_on_to: date | None
    page: int

    @property
    def worked_only(self) -> bool:
        return self.status == STILL_WORKED


def asked(params: Mapping[str, str], registrant: Registrant | None) -> Asked:
    """The queue's filters from its query string, strictly: a value that is not what its field
    takes is refused, never ignored. Days are on the registrant's clock (UTC across several)."""
    status = params.get("status", STILL_WORKED)
    if status not in (STILL_WORKED, EVERY_STATUS):
        _enum(params, "status", Status)
    zone = ZoneInfo(registrant.timezone if registrant else "UTC")
    found_on_from, found_on_to = _day(params, "found_from"), _day(params, "found_to")
    filters = DiscrepancyFilters(
        registrant_id=registrant.id if registrant else None,
        status=None if status in (STILL_WORKED, EVERY_STATUS) else Status(status),
        severity=_enum(params, "severity", Severity), rule=params.get("rule") or None,
        product_id=uuid_param(params, "product_id"), lot_id=uuid_param(params, "lot_id"),
        location_id=uuid_param(params, "location_id"), staff_id=uuid_param(params, "staff_id"),
        assigned_to=uuid_param(params, "assigned_to"),
        found_from=_start_of(found_on_from, zone),
        found_to=_start_of(found_on_to + timedelta(days=1), zone) if found_on_to else None,
    )  # fmt: skip
    return Asked(filters, status, found_on_from, found_on_to, _page(params))


N = TypeVar("N")
Option = tuple[str, str]
"""A choice of a filter: the value sent, and what a person reads."""


@dataclass(frozen=True, slots=True)
class Choices:
    """What a registrant's queue may be filtered by, by name."""

    rules: list[Option]
    locations: list[Option]
    products: list[Option]
    lots: list[Option]
    staff: list[Option]


async def choices(db: AsyncSession, principal: Principal, registrant: Registrant) -> Choices:
    found = await queue.found_about(db, principal, registrant.id)
    names = await Names.load(db, principal, locations=found.location_ids, lots=found.lot_ids,
                             products=found.product_ids)  # fmt: skip
    staff = await _staff(db, principal, registrant.id)
    return Choices(
        rules=[(rule, rule.replace("_", " ")) for rule in found.rules],
        locations=_named(found.location_ids, names.locations, lambda n: n.name),
        products=_named(found.product_ids, names.products, lambda n: f"{n.name} {n.strength}"),
        lots=_named(found.lot_ids, names.lots, lambda n: n.lot_number),
        staff=[(str(person.id), person.name) for person in staff],
    )


def _named(
    ids: list[uuid.UUID], names: Mapping[uuid.UUID, N], text: Callable[[N], str]
) -> list[Option]:
    return [(str(i), text(names[i]) if i in names else str(i)) for i in ids]


@dataclass(frozen=True, slots=True)
class Queue:
    rows: list[Pressing]
    has_next: bool


async def queue_of(
    db: AsyncSession, principal: Principal, asking: Asked, today: dict[uuid.UUID, date]
) -> Queue:
    """One page of the queue, the most pressing first; ``today`` is each registrant's day."""
    statement = queue.queue_query(principal, asking.filters, worked_only=asking.worked_only)
    offset = (asking.page - 1) * PAGE_SIZE
    found = list(await db.scalars(statement.offset(offset).limit(PAGE_SIZE + 1)))
    named = await discrepancies_out(db, principal, found[:PAGE_SIZE])
    rows = [Pressing(d, queue.running_clock(d, today[d.registrant_id])) for d in named]
    return Queue(rows, has_next=len(found) > PAGE_SIZE)


# A case


@dataclass(frozen=True, slots=True)
class Case:
    registrant: Registrant
    today: date
    discrepancy: DiscrepancyDetailOut
    clock: queue.Clock | None
    people: dict[uuid.UUID, StaffName]
    """The performers and witnesses of its events, by id."""
    patient_shown: bool
    moves: list[Status]
    """Where the caller may move it (none for whoever may only read it, or whose work it is
    about)."""
    assignable: list[Staff]
    may_note: bool
    own_work: bool
    """It is about the caller's own work: another officer moves and assigns it."""
    reason_codes: tuple[ReasonCode, ...] = tuple(ReasonCode)


async def case_of(
    db: AsyncSession, principal: Principal, found: Discrepancy, now: datetime
) -> Case:
    registrant = await get_registrant(db, found.registrant_id, principal=principal)
    today = local_date(registrant, now)
    detail = await discrepancy_detail(db, principal, found)
    people = await Names.load(db, principal, staff=[
        *(e.performed_by for e in detail.events), *(w for e in detail.events for w in e.witness_ids)
    ])  # fmt: skip
    may_note = principal.can(Permission.adjust_reverse_resolve)
    own_work = may_note and await _about_own_work(db, found, principal)
    works = may_note and not own_work
    current = Status(found.status)
    moves = [to for to in Status if works and may_move(current, to, rule=found.rule,
                                                      reportable=found.reportable)]  # fmt: skip
    return Case(
        registrant, today, detail, queue.running_clock(detail, today), people.staff,
        patient_shown=principal.can(Permission.read_patients), moves=moves,
        assignable=[s for s in await _staff(db, principal, registrant.id)
                    if s.active and not casework.is_about(found, s)] if works else [],
        may_note=may_note, own_work=own_work,
    )  # fmt: skip


async def _about_own_work(db: AsyncSession, found: Discrepancy, principal: Principal) -> bool:
    """The workflow's own rule (nobody moves their own work), asked before offering a move."""
    try:
        await service.not_own_work(db, found, principal)
    except OwnWork:
        return True
    return False


async def _staff(db: AsyncSession, principal: Principal, registrant_id: uuid.UUID) -> list[Staff]:
    statement = staff_query(registrant_id, principal=principal, role=None, active=None,
                            subject=None).order_by(Staff.name, Staff.id)  # fmt: skip
    return list(await db.scalars(statement))


# Forms, read strictly


def form_model(model: type[M], form: Mapping[str, Any], fields: tuple[str, ...]) -> M:
    """``model`` from a form's ``fields``: a blank field is one not given, anything else is
    validated as the API validates its body (the same model)."""
    given = {name: form[name] for name in fields if str(form.get(name) or "").strip()}
    try:
        return model.model_validate(given)
    except ValidationError as invalid:
        errors = field_errors(invalid.errors())
        detail = "; ".join(f"{e.pointer or e.parameter}: {e.detail}" for e in errors)
        raise InvalidInput(detail, errors=errors) from None


def _refused(name: str, detail: str) -> InvalidInput:
    return InvalidInput(f"{name}: {detail}", errors=[FieldError(parameter=name, detail=detail)])


def uuid_param(params: Mapping[str, str], name: str) -> uuid.UUID | None:
    value = params.get(name) or None
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        raise _refused(name, "not an id") from None


def _enum(params: Mapping[str, str], name: str, kind: type[E]) -> E | None:
    value = params.get(name) or None
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise _refused(name, f"one of {', '.join(kind)}") from None


def _day(params: Mapping[str, str], name: str) -> date | None:
    value = params.get(name) or None
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        raise _refused(name, "a day, YYYY-MM-DD") from None


def _page(params: Mapping[str, str]) -> int:
    value = params.get("page") or "1"
    if not value.isdigit() or not 1 <= int(value) <= 10_000:
        raise _refused("page", "a page number from 1")
    return int(value)


def _start_of(day: date | None, zone: ZoneInfo) -> datetime | None:
    return datetime.combine(day, time(), zone) if day else None
