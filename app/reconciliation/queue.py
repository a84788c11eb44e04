"""The work queue: discrepancies a person still has to work, the most pressing first.

Pressing means a DEA clock running (docs/domain.md#dea-clocks): the written notice of a theft
or significant loss one business day after discovery, then its Form 106 within 45 days; an
overdue clock before any other. Then severity, then age.
"""

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.reconciliation import schemas, service
from app.reconciliation.models import Discrepancy
from app.reconciliation.workflow import Severity, Status

WORKED = (Status.open, Status.acknowledged, Status.unable_to_reconcile)
"""Neither closed by a person (resolved, reported) nor cured by a run."""

_SEVERITY_RANK = case(
    {severity.value: rank for rank, severity in enumerate(reversed(Severity))},
    value=Discrepancy.severity,
)
_NOTICE_RUNNING = case(
    (and_(Discrepancy.notice_due_on.is_not(None), Discrepancy.notice_given_on.is_(None)),
     Discrepancy.notice_due_on),
)  # fmt: skip
_FORM_106_RUNNING = case(
    (and_(Discrepancy.form_106_due_on.is_not(None), Discrepancy.reported_on.is_(None)),
     Discrepancy.form_106_due_on),
)  # fmt: skip
_NEXT_DUE = func.coalesce(_NOTICE_RUNNING, _FORM_106_RUNNING)


def worked_query(principal: Principal, registrant_id: uuid.UUID | None) -> Select[Discrepancy]:
    """The discrepancies still worked at ``registrant_id`` (else every registrant the caller
    reads), the most pressing first."""
    filters = schemas.DiscrepancyFilters(registrant_id=registrant_id)
    return queue_query(principal, filters, worked_only=True)


def queue_query(
    principal: Principal, filters: schemas.DiscrepancyFilters, *, worked_only: bool
) -> Select[Discrepancy]:
    """The discrepancies ``filters`` find (of those still worked, if ``worked_only``), the most
    pressing first."""
    statement = service.discrepancies_query(principal, filters)
    if worked_only:
        statement = statement.where(Discrepancy.status.in_([status.value for status in WORKED]))
    return statement.order_by(
        _NEXT_DUE.is_(None), _NEXT_DUE, _SEVERITY_RANK, Discrepancy.created_at, Discrepancy.id
    )


@dataclass(frozen=True, slots=True)
class Found:
    """What a registrant's discrepancies are about, each once: what its queue filters by."""

    rules: list[str]
    location_ids: list[uuid.UUID]
    lot_ids: list[uuid.UUID]
    product_ids: list[uuid.UUID]


async def found_about(db: AsyncSession, principal: Principal, registrant_id: uuid.UUID) -> Found:
    every = service.discrepancies_query(
        principal, schemas.DiscrepancyFilters(registrant_id=registrant_id)
    ).subquery()
    columns = (every.c.rule, every.c.location_id, every.c.lot_id, every.c.product_id)
    kinds: list[list[object]] = []
    for column in columns:
        distinct = select(column).where(column.is_not(None)).distinct().order_by(column)
        kinds.append(list(await db.scalars(distinct)))
    rules, locations, lots, products = kinds
    return Found([str(r) for r in rules], _ids(locations), _ids(lots), _ids(products))


def _ids(values: list[object]) -> list[uuid.UUID]:
    return [v if isinstance(v, uuid.UUID) else uuid.UUID(str(v)) for v in values]


async def worked_by_severity(
    db: AsyncSession, principal: Principal, registrant_id: uuid.UUID | None
) -> dict[Severity, int]:
    """How many are still worked, per severity (every severity present, most severe first)."""
    counted = worked_query(principal, registrant_id).order_by(None).subquery()
    rows = await db.execute(select(counted.c.severity, func.count()).group_by(counted.c.severity))
    found: dict[str, int] = {severity: count for severity, count in rows}
    return {severity: found.get(severity.value, 0) for severity in reversed(Severity)}


@dataclass(frozen=True, slots=True)
class Clock:
    """The DEA clock running on a discrepancy: what is due, by when, and how it stands."""

    what: str
    due_on: date
    days_left: int

    @property
    def overdue(self) -> bool:
        return self.days_left < 0


def running_clock(found: schemas.DiscrepancyOut, today: date) -> Clock | None:
    """The clock to meet next, if one runs: the notice while it is not given, then the
    Form 106 while it is not filed."""
    if found.notice_due_on is not None and found.notice_given_on is None:
        return Clock("written notice to the DEA", found.notice_due_on,
                     (found.notice_due_on - today).days)  # fmt: skip
    if found.form_106_due_on is not None and found.reported_on is None:
        return Clock("DEA Form 106", found.form_106_due_on, (found.form_106_due_on - today).days)
    return None
