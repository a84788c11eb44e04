"""What the demo's registrants do to stay in order, and the one thing left for its user.

- On their first day, once the first stock has arrived, each takes its initial inventory (21
  CFR 1304.11(b)) through the inventory workflow: every lot at every location, counted
  exactly at the close of business by a staff member (the clinic's nurse, the pharmacy's
  pharmacist), who signs it.
- The clinic's compliance officer gives the DEA written notice of the demo's loss the day it
  was found and files its Form 106 two days later, through the discrepancy workflow, once the
  worker has opened the loss's discrepancy.
- Yesterday's close-of-business count of the IV vials came up short by 0.1 mL: a minor
  ``count_variance`` that the nightly run finds, planted for the person trying the demo to
  work (acknowledge it, then resolve it with a reason code).

Nothing else is left open: the demo starts in order (README.md, "What the demo leaves open").
"""

import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Role
from app.auth.principal import Principal
from app.catalog.models import Lot
from app.core import outbox
from app.core.config import Settings
from app.demo import data as demo_data
from app.ledger import service as ledger
from app.ledger.inventories import service as inventories
from app.ledger.inventories.schemas import EntryCount, InventoryCreate
from app.ledger.models import Balance
from app.ledger.schemas import CountExactness, CountTime, EventCreate, InventoryKind
from app.reconciliation import service as discrepancies
from app.reconciliation.models import Discrepancy
from app.reconciliation.schemas import TransitionCreate
from app.reconciliation.workflow import Status
from app.registry.models import Location, Staff
from app.worker import SUBSCRIBERS

CLOSE_OF_BUSINESS = time(17)
SHORT_COUNT_LOT = "HB24017A"
"""The 50 mg/mL vials the IV infusions draw from."""
SHORT_BY = Decimal("0.1")
"""mL missing at the planted count (5 mg): minor against the 4 mL the vault gave out of that
lot in 30 days. A shortfall of 5 % of that usage would be significant, and reportable."""
FORM_106_AFTER = timedelta(days=2)
"""When the clinic files the loss's DEA Form 106 (45 days are allowed)."""
OFFICER = "demo-clinic-compliance"
"""Owen Patel, the clinic's compliance officer."""


def at_close(day: date) -> datetime:
    return datetime.combine(day, CLOSE_OF_BUSINESS, ZoneInfo(demo_data.TIMEZONE))


def _principal(subject: str, role: Role, registrant_id: uuid.UUID) -> Principal:
    return Principal(subject=subject, name=subject, roles=frozenset({role}),
                     registrant_ids=frozenset({registrant_id}))  # fmt: skip


def _entered(principal: Principal, at: datetime, settings: Settings) -> Caller:
    """Entered a minute after it happened."""
    return Caller(principal, at + timedelta(minutes=1), settings)


async def _staff_id(session: AsyncSession, registrant_id: uuid.UUID, subject: str) -> uuid.UUID:
    staff_id = await session.scalar(
        select(Staff.id).where(Staff.registrant_id == registrant_id, Staff.subject == subject)
    )
    assert staff_id is not None, subject
    return staff_id


def _count(
    registrant_id: uuid.UUID, location_id: uuid.UUID, lot_id: uuid.UUID, quantity: Decimal,
    at: datetime, *, kind: str, counted_by: uuid.UUID, inventory_id: uuid.UUID,
) -> EventCreate:  # fmt: skip
    return EventCreate.model_validate({
        "registrant_id": registrant_id, "type": "count", "location_id": location_id,
        "lot_id": lot_id, "quantity": quantity, "occurred_at": at,
        "count": {"inventory_id": inventory_id, "inventory_kind": kind,
                  "taken_at": "close_of_business", "exactness": "exact",
                  "counted_by": counted_by},
    })  # fmt: skip


async def take_initial_inventory(
    session: AsyncSession, settings: Settings, *, principal: Principal, day: date
) -> int:
    """The initial inventory of ``principal``'s registrant at the close of ``day``, taken
    by ``principal`` (a staff member) through the inventory workflow: every lot at every
    location counted exactly, as the ledger holds it, then signed. Returns how many counts it
    took."""
    [registrant_id] = principal.registrant_ids
    caller = _entered(principal, at_close(day), settings)
    start = InventoryCreate(registrant_id=registrant_id, kind=InventoryKind.initial,
                            as_of=at_close(day), taken_at=CountTime.close_of_business)  # fmt: skip
    inventory = await inventories.start(session, start, caller)
    entries = await inventories.entries_of(session, inventory)
    for entry in entries:
        found = EntryCount(location_id=entry.location_id, lot_id=entry.lot_id,
                           quantity=entry.ledger_quantity,
                           exactness=CountExactness.exact)  # fmt: skip
        await inventories.count(session, inventory.id, found, caller)
    await inventories.sign(session, inventory.id, caller)
    return len(entries)


async def plant_short_count(
    session: AsyncSession, settings: Settings, *, clinic_id: uuid.UUID, today: date
) -> None:
    """Yesterday's close-of-business count of the IV vials in the clinic's vault, by its nurse:
    :data:`SHORT_BY` short of what the ledger holds (nothing moved there since)."""
    vault_id, lot_id, held = (await session.execute(
        select(Location.id, Lot.id, Balance.quantity)
        .join(Balance, Balance.location_id == Location.id)
        .join(Lot, Lot.id == Balance.lot_id)
        .where(Location.registrant_id == clinic_id, Location.kind == "vault",
               Lot.lot_number == SHORT_COUNT_LOT)
    )).one()  # fmt: skip
    counted_at = at_close(today - timedelta(days=1))
    nurse = await _staff_id(session, clinic_id, "demo-clinic-nurse")
    count = _count(clinic_id, vault_id, lot_id, held - SHORT_BY, counted_at, kind="ad_hoc",
                   counted_by=nurse, inventory_id=uuid.uuid4())  # fmt: skip
    clinician = _principal("demo-clinic-clinician", Role.clinician, clinic_id)
    await ledger.append(session, count, _entered(clinician, counted_at, settings))


async def report_the_loss(
    session: AsyncSession, settings: Settings, *, clinic_id: uuid.UUID, now: datetime
) -> None:
    """Hand every message so far to its subscribers, as the worker does (the loss's
    discrepancy opens), then report the loss as the clinic's compliance officer did: written
    notice the day it was found, Form 106 :data:`FORM_106_AFTER` later."""
    while await outbox.dispatch_next(session, SUBSCRIBERS, now=now) is not None:
        pass
    loss = await session.scalar(
        select(Discrepancy).where(Discrepancy.registrant_id == clinic_id,
                                  Discrepancy.rule == "loss")
    )  # fmt: skip
    assert loss is not None
    assert loss.discovered_at is not None
    found_on = loss.discovered_at.astimezone(ZoneInfo(demo_data.TIMEZONE)).date()
    filed_on = found_on + FORM_106_AFTER
    report = TransitionCreate(
        to=Status.reported, notice_given_on=found_on, reported_on=filed_on,
        report_reference=f"DEA-106-{filed_on:%y%m%d}-01",
        note="Written notice sent to the DEA field office the day the loss was found.",
    )  # fmt: skip
    officer = _principal(OFFICER, Role.compliance_officer, clinic_id)
    filed_at = datetime.combine(filed_on, time(10), ZoneInfo(demo_data.TIMEZONE))
    await discrepancies.transition(session, loss.id, report, Caller(officer, filed_at, settings))
