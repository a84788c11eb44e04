"""What the dashboard shows, read through the domain's services: each part only for whoever
may read it (a nurse sees stock and today's sessions, a compliance officer the queue too)."""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.core.errors import NotFound
from app.ledger import stock
from app.ledger.schemas import BalanceOut
from app.reconciliation import queue
from app.reconciliation.schemas import DiscrepancyOut
from app.reconciliation.views import discrepancies_out
from app.reconciliation.workflow import Severity
from app.registry.models import Registrant
from app.registry.service import local_date, registrants_query

PRESSING = 10
"""Discrepancies listed on a dashboard; the queue lists them all."""
EXPIRING_DAYS = 30


@dataclass(frozen=True, slots=True)
class Registrants:
    """The registrants a person works at, and the one chosen (none: the roll-up)."""

    all: list[Registrant]
    chosen: Registrant | None

    def context(self) -> dict[str, Any]:
        return {"registrants": self.all, "registrant": self.chosen}


async def registrants(
    db: AsyncSession, principal: Principal, registrant_id: uuid.UUID | None
) -> Registrants:
    """Those ``principal`` sees; ``registrant_id`` chosen (404 unless among them), or the
    only one."""
    found = list(await db.scalars(
        registrants_query(principal, kind=None, state=None, dea_number=None)
        .order_by(Registrant.name)
    ))  # fmt: skip
    if registrant_id is None:
        return Registrants(found, found[0] if len(found) == 1 else None)
    principal.ensure_registrant(registrant_id)
    chosen = next((r for r in found if r.id == registrant_id), None)
    if chosen is None:
        raise NotFound("registrant not found")
    return Registrants(found, chosen)


@dataclass(frozen=True, slots=True)
class Pressing:
    """A discrepancy still worked, with the DEA clock it runs (if any)."""

    discrepancy: DiscrepancyOut
    clock: queue.Clock | None


@dataclass(slots=True)
class Dashboard:
    registrant: Registrant
    today: date
    by_severity: dict[Severity, int] | None = None
    pressing: list[Pressing] = field(default_factory=list)
    stock: list[BalanceOut] | None = None


async def of(
    db: AsyncSession, principal: Principal, registrant: Registrant, now: datetime
) -> Dashboard:
    view = Dashboard(registrant, local_date(registrant, now))
    if principal.can(Permission.reports):
        view.by_severity = await queue.worked_by_severity(db, principal, registrant.id)
        view.pressing = await _pressing(db, principal, registrant.id, {registrant.id: view.today})
    view.stock = (await stock.on_hand(db, principal, registrant.id)).items
    return view


async def _pressing(
    db: AsyncSession,
    principal: Principal,
    registrant_id: uuid.UUID | None,
    today: dict[uuid.UUID, date],
) -> list[Pressing]:
    """The most pressing still worked; ``today`` is each registrant's day, on its clock."""
    found = list(await db.scalars(queue.worked_query(principal, registrant_id).limit(PRESSING)))
    named = await discrepancies_out(db, principal, found)
    return [Pressing(d, queue.running_clock(d, today[d.registrant_id])) for d in named]


@dataclass(frozen=True, slots=True)
class RollupRow:
    registrant: Registrant
    by_severity: dict[Severity, int] | None


@dataclass(frozen=True, slots=True)
class Rollup:
    rows: list[RollupRow]
    pressing: list[Pressing]


async def rollup(
    db: AsyncSession, principal: Principal, found: list[Registrant], now: datetime
) -> Rollup:
    """Each registrant's queue by severity, and the most pressing across them all."""
    if not principal.can(Permission.reports):
        return Rollup([RollupRow(r, None) for r in found], [])
    rows = [RollupRow(r, await queue.worked_by_severity(db, principal, r.id)) for r in found]
    today = {r.id: local_date(r, now) for r in found}
    return Rollup(rows, await _pressing(db, principal, None, today))
