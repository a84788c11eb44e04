"""Registrants to append to: each with a location, a product, a lot, a staff member for the
token subject and a receipt large enough for the run, made through the same services as the API.

Also the floor's two tables (see :mod:`bench.floor`), one balance row per registrant.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Role
from app.auth.principal import Principal
from app.auth.tokens import mint_token
from app.catalog import service as catalog
from app.catalog.schemas import LotCreate, ProductCreate
from app.core.config import Environment, Settings
from app.core.db import Database, create_engine
from app.core.identifiers import dea_check_digit
from app.core.quantity import to_minor
from app.ledger import service as ledger
from app.ledger.schemas import EventCreate
from app.registry import service as registry
from app.registry.schemas import LocationCreate, RegistrantCreate, StaffCreate

SUBJECT = "bench-clinician"
"""The token's subject, a staff member of every registrant."""
STOCK = Decimal(1_000_000)
"""Each registrant's receipt: far more than a run takes at 0.001 per append."""
ADDRESS = {"line1": "1 Bench St", "city": "Austin", "state": "TX", "postal_code": "78701"}
SUPPLIER = {
    "name": "Midwest Pharma Distribution",
    "address": ADDRESS,
    "dea_number": "PK1234563",
}
LOADER = Principal(
    subject="bench-loader",
    name="Bench loader",
    roles=frozenset({Role.admin, Role.compliance_officer, Role.clinician}),
    registrant_ids=frozenset(),
    all_registrants=True,
)


@dataclass(frozen=True, slots=True)
class Target:
    """What an append names: a registrant, a location and a lot there."""

    registrant_id: uuid.UUID
    location_id: uuid.UUID
    lot_id: uuid.UUID


def bench_settings(database_url: str, key_dir: Path) -> Settings:
    return Settings(
        environment=Environment.test, database_url=database_url, development_key_dir=key_dir
    )


def token(settings: Settings, targets: list[Target], *, hours: int = 2) -> str:
    """A clinician's token for every target's registrant (administer and receipt)."""
    return mint_token(
        settings,
        subject=SUBJECT,
        name="Bench Clinician",
        roles=[Role.clinician],
        registrants=[str(t.registrant_id) for t in targets],
        now=datetime.now(UTC),
        lifetime=timedelta(hours=hours),
    )


def _dea_number(serial: int) -> str:
    digits = f"{serial % 1_000_000:06d}"
    return f"FB{digits}{dea_check_digit(digits)}"


async def seed(settings: Settings, *, registrants: int, stock: Decimal = STOCK) -> list[Target]:
    """``registrants`` registrants, each stocked with ``stock`` mL of one lot."""
    database = Database(create_engine(settings))
    try:
        async with database.transaction() as session:
            now = datetime.now(UTC)
            targets = []
            for serial in range(registrants):
                target = await new_registrant(session, settings, serial=serial, now=now)
                await _receive(session, settings, target, stock, now)
                targets.append(target)
    finally:
        await database.dispose()
    return targets


async def new_registrant(
    session: AsyncSession, settings: Settings, *, serial: int, now: datetime, **fields: Any
) -> Target:
    """A registrant with a vault, the token subject's staff row, a product and a lot;
    ``fields`` add to the registrant's."""
    loader = Caller(LOADER, now, settings)
    registrant = await registry.create_registrant(
        session,
        data=RegistrantCreate.model_validate(
            {
                "name": f"Bench Clinic {serial}",
                "kind": "clinic",
                "dea_number": _dea_number(serial + 1),
                "schedules": ["3N", "4"],
                "registration_expires_on": (now + timedelta(days=3650)).date(),
                "address": ADDRESS,
                "timezone": "America/Chicago",
                **fields,
            }
        ),
        caller=loader,
    )
    rid = registrant.id
    location = await registry.create_location(
        session,
        rid,
        data=LocationCreate.model_validate({"name": "Vault", "kind": "vault"}),
        caller=loader,
    )
    await registry.create_staff(
        session,
        rid,
        data=StaffCreate.model_validate(
            {"name": "Bench Clinician", "role": "nurse", "subject": SUBJECT}
        ),
        caller=loader,
    )
    product, _ = await catalog.create_product(
        session,
        data=ProductCreate.model_validate(
            {
                "registrant_id": str(rid),
                "name": "Ketamine HCl injection 50 mg/mL, 10 mL vial",
                "ndc": "0409-2051-05",
                "substance": "ketamine",
                "dosage_form": "injection",
                "strength": {"value": "50", "unit": "mg/mL", "basis": "base"},
                "inventory_unit": "mL",
                "package_size": "10",
            }
        ),
        caller=loader,
    )
    lot = await catalog.create_lot(
        session,
        product.id,
        data=LotCreate(lot_number="BENCH-1", expires_on=(now + timedelta(days=3650)).date()),
        caller=loader,
    )
    return Target(registrant_id=rid, location_id=location.id, lot_id=lot.id)


def receipt(target: Target, quantity: Decimal, occurred_at: datetime) -> EventCreate:
    return EventCreate.model_validate(
        {
            "registrant_id": str(target.registrant_id),
            "type": "receipt",
            "location_id": str(target.location_id),
            "lot_id": str(target.lot_id),
            "quantity": str(quantity),
            "occurred_at": occurred_at.isoformat(),
            "counterparty": SUPPLIER,
            "document_reference": "INV-BENCH",
        }
    )


async def _receive(
    session: AsyncSession, settings: Settings, target: Target, stock: Decimal, now: datetime
) -> None:
    clinician = Principal(
        subject=SUBJECT,
        name="Bench Clinician",
        roles=frozenset({Role.clinician}),
        registrant_ids=frozenset({target.registrant_id}),
    )
    caller = Caller(principal=clinician, now=now, settings=settings)
    await ledger.append(session, receipt(target, stock, now - timedelta(minutes=1)), caller)


FLOOR_SCHEMA = """
CREATE TABLE floor_balances (registrant_id uuid PRIMARY KEY, quantity bigint NOT NULL);
CREATE TABLE floor_events (
    id uuid PRIMARY KEY,
    registrant_id uuid NOT NULL,
    quantity bigint NOT NULL,
    recorded_at timestamptz NOT NULL
);
"""


async def seed_floor(dsn: str, targets: list[Target], stock: Decimal = STOCK) -> None:
    """The floor's tables: one balance row per registrant, as much stock as the ledger's."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(FLOOR_SCHEMA)
        await connection.executemany(
            "INSERT INTO floor_balances (registrant_id, quantity) VALUES ($1, $2)",
            [(t.registrant_id, to_minor(stock)) for t in targets],
        )
    finally:
        await connection.close()


def write_targets(path: Path, targets: list[Target]) -> None:
    """One line per target, ``registrant location lot``, for the wrk script."""
    lines = (f"{t.registrant_id} {t.location_id} {t.lot_id}\n" for t in targets)
    path.write_text("".join(lines))
