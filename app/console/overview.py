"""What the dashboard shows, read through the domain's services: each part only for whoever
may read it (a nurse sees stock and today's sessions, a compliance officer the queue too)."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.clinical.sessions.views import DaySession, sessions_between
from app.core import jobs
from app.core.errors import NotFound
from app.core.jobs import Job
from app.ledger import checkpoints, stock, verification
from app.ledger.checkpoints import Checkpoint
from app.ledger.schemas import BalanceOut
from app.reconciliation import queue, runs
from app.reconciliation.schemas import DiscrepancyOut
from app.reconciliation.views import discrepancies_out
from app.reconciliation.workflow import Severity
from app.registry.enums import RegistrantKind
from app.registry.models import Registrant
from app.registry.service import local_date, registrants_query
from app.reports import rems
from app.reports.pdmp.outstanding import outstanding_days
from app.reports.pdmp.schemas import PdmpOutstandingDay
from app.reports.scope import Scope

PRESSING = 10
"""Discrepancies listed on a dashboard; the queue lists them all."""
EXPIRING_DAYS = 30
REMS_LOOKBACK_DAYS = 60
"""How far back the dashboard looks for Patient Monitoring Forms not yet sent (the nightly
run finds each overdue one as a discrepancy too)."""


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
    """What a registrant's dashboard shows; a part left None is not the reader's to see."""

    registrant: Registrant
    today: date
    by_severity: dict[Severity, int] | None = None
    pressing: list[Pressing] = field(default_factory=list)
    stock: list[BalanceOut] | None = None
    sessions: list[DaySession] | None = None
    last_run: Job | None = None
    last_verification: Job | None = None
    checkpoint: Checkpoint | None = None
    pdmp_days: list[PdmpOutstandingDay] | None = None
    rems_due: list[Mapping[str, Any]] | None = None
    patients_named: bool = False
    """Whether the reader may read patients: their names are shown (and the read audited)."""


async def of(
    db: AsyncSession, principal: Principal, registrant: Registrant, now: datetime
) -> Dashboard:
    view = Dashboard(registrant, local_date(registrant, now))
    view.patients_named = principal.can(Permission.read_patients)
    view.stock = sorted((await stock.on_hand(db, principal, registrant.id)).items, key=_shelf)
    if principal.can(Permission.reports):
        view.by_severity = await queue.worked_by_severity(db, principal, registrant.id)
        view.pressing = await _pressing(db, principal, registrant.id, {registrant.id: view.today})
        view.last_run = await jobs.latest(db, kind=runs.JOB_KIND, registrant_id=registrant.id)
        view.last_verification = await jobs.latest(db, kind=verification.JOB_KIND,
                                                   registrant_id=registrant.id)  # fmt: skip
        view.checkpoint = await checkpoints.latest(db, registrant.id)
    if principal.can(Permission.read_sessions):
        scope = Scope(registrant, now, principal.name)
        start, end = scope.day_bounds(view.today, view.today)
        view.sessions = await sessions_between(db, principal, registrant.id, start, end)
        since = view.today - timedelta(days=REMS_LOOKBACK_DAYS)
        view.rems_due = await rems.forms_to_submit(db, scope, view.today, since=since)
    if registrant.kind == RegistrantKind.pharmacy and principal.can(Permission.read_pdmp):
        scope = Scope(registrant, now, principal.name)
        view.pdmp_days = (await outstanding_days(db, scope, None, None)).days
    return view


def _shelf(item: BalanceOut) -> tuple[str, str, str]:
    """Where a person looks for a lot: by location, then product, then lot number."""
    return (item.location.name if item.location else "", item.product.name if item.product
            else "", item.lot.lot_number if item.lot else "")  # fmt: skip


def shows_patients(view: Dashboard) -> bool:
    """Whether the page names a patient (a read of patient data, audited as the API's)."""
    named = bool(view.sessions) or bool(view.rems_due)
    return view.patients_named and named


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
