"""What a report's form offers for an id: the registrant's locations, lots, products, staff,
discrepancies, inventories, sessions and (for whoever may read them) patients, each by its
name, read through the domains' queries. An id of something the person may not list is typed
instead (the report route refuses it as the API does)."""

import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.catalog.service import lots_query, products_query
from app.clinical.sessions.models import TreatmentSession
from app.clinical.sessions.service import sessions_query
from app.core.instants import printed_instant
from app.ledger.inventories.models import Inventory
from app.ledger.inventories.service import inventories_query
from app.reconciliation.models import Discrepancy
from app.reconciliation.schemas import DiscrepancyFilters
from app.reconciliation.service import discrepancies_query
from app.registry.models import Registrant
from app.registry.service import locations_query, patients_query, staff_query

LISTED = 200
"""Sessions, discrepancies and inventories offered at most: the most recent."""

Option = tuple[str, str]
"""An id and what the form shows for it."""
Loader = Callable[[AsyncSession, Principal, Registrant], Awaitable[list[Option]]]


async def _locations(db: AsyncSession, principal: Principal, r: Registrant) -> list[Option]:
    query = locations_query(r.id, principal=principal, kind=None, active=None)
    return [(str(x.id), x.name) for x in await db.scalars(query.order_by("name"))]


async def _products(db: AsyncSession, principal: Principal, r: Registrant) -> list[Option]:
    query = products_query(principal, registrant_id=r.id, ndc=None, compound_code=None,
                           dosage_form=None)  # fmt: skip
    return [(str(x.id), x.name) for x in await db.scalars(query.order_by("name"))]


async def _lots(db: AsyncSession, principal: Principal, r: Registrant) -> list[Option]:
    query = products_query(principal, registrant_id=r.id, ndc=None, compound_code=None,
                           dosage_form=None)  # fmt: skip
    found: list[Option] = []
    for product in await db.scalars(query.order_by("name")):
        lots = lots_query(product, lot_number=None, expires_before=None).order_by("lot_number")
        found += [(str(lot.id), f"{lot.lot_number} · {product.name}")
                  for lot in await db.scalars(lots)]  # fmt: skip
    return found


async def _staff(db: AsyncSession, principal: Principal, r: Registrant) -> list[Option]:
    query = staff_query(r.id, principal=principal, role=None, active=None, subject=None)
    return [(str(x.id), x.name) for x in await db.scalars(query.order_by("name"))]


async def _patients(db: AsyncSession, principal: Principal, r: Registrant) -> list[Option]:
    query = patients_query(principal, registrant_id=r.id, external_id=None)
    return [(str(x.id), f"{x.family_name}, {x.given_name} ({x.external_id})")
            for x in await db.scalars(query.order_by("family_name", "given_name"))]  # fmt: skip


async def _sessions(db: AsyncSession, principal: Principal, r: Registrant) -> list[Option]:
    query = sessions_query(principal, registrant_id=r.id, patient_id=None, plan_id=None,
                           status=None)  # fmt: skip
    zone = ZoneInfo(r.timezone)
    found = await db.scalars(query.order_by(TreatmentSession.scheduled_at.desc()).limit(LISTED))
    return [(str(x.id), f"{printed_instant(x.scheduled_at.astimezone(zone))} · {x.status}")
            for x in found]  # fmt: skip


async def _discrepancies(db: AsyncSession, principal: Principal, r: Registrant) -> list[Option]:
    query = discrepancies_query(principal, DiscrepancyFilters(registrant_id=r.id))
    found = await db.scalars(query.order_by(Discrepancy.first_found_at.desc()).limit(LISTED))
    return [(str(x.id), f"{x.summary} ({x.status.replace('_', ' ')})") for x in found]


async def _inventories(db: AsyncSession, principal: Principal, r: Registrant) -> list[Option]:
    query = inventories_query(principal, registrant_id=r.id, state=None)
    zone = ZoneInfo(r.timezone)
    found = await db.scalars(query.order_by(Inventory.as_of.desc()).limit(LISTED))
    return [(str(x.id), f"{printed_instant(x.as_of.astimezone(zone))} · "
             f"{x.kind.replace('_', ' ')} · {x.state}") for x in found]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Source:
    needs: Permission
    load: Loader


SOURCES: dict[str, Source] = {
    "location_id": Source(Permission.read_reference, _locations),
    "product_id": Source(Permission.read_reference, _products),
    "lot_id": Source(Permission.read_reference, _lots),
    "staff_id": Source(Permission.read_reference, _staff),
    "patient_id": Source(Permission.read_patients, _patients),
    "session_id": Source(Permission.read_sessions, _sessions),
    "discrepancy_id": Source(Permission.reports, _discrepancies),
    "inventory_id": Source(Permission.counts, _inventories),
}
PATIENT_DATA = frozenset({"patient_id"})
"""The choices that name patients: a page listing them is a read of patient data."""


async def choices(
    db: AsyncSession, principal: Principal, registrant: Registrant, names: Collection[str]
) -> dict[str, list[Option]]:
    """The choices for each of ``names`` ``principal`` may list at ``registrant``."""
    found: dict[str, list[Option]] = {}
    for name in names:
        source = SOURCES.get(name)
        if source is not None and principal.can(source.needs):
            found[name] = await source.load(db, principal, registrant)
    return found


def parsed_id(value: str | None) -> uuid.UUID | None:
    """A registrant id from a query string, or none when it is not one."""
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
