"""Loading the demo (app/demo/data.py) and the development tokens that go with it.

``csledger demo`` (and ``make run``) loads it into a database that holds no registrant yet. It
goes through the same services as the API, so the demo obeys every rule real data does.
"""

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry
from app.auth.caller import Caller
from app.auth.permissions import Role
from app.auth.principal import Principal
from app.auth.tokens import ALL_REGISTRANTS, mint_token
from app.catalog import service as catalog
from app.console import links
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Database
from app.core.migrations import current_revision, head_revision
from app.demo import data as demo_data
from app.demo.activity import load_activity
from app.demo.compliance import report_the_loss
from app.registry import service as registry
from app.registry.models import Registrant
from app.registry.schemas import (
    LocationCreate,
    PatientCreate,
    RegistrantCreate,
    StaffCreate,
    StaffRegistrationCreate,
)

DEMO_STAFF_ROLES = (Role.pharmacist, Role.clinician, Role.prescriber, Role.compliance_officer)
DEMO_LOADER = Principal(
    subject="demo-loader",
    name="Demo loader",
    roles=frozenset({Role.admin, Role.compliance_officer} | set(DEMO_STAFF_ROLES)),
    registrant_ids=frozenset(),
    all_registrants=True,
)
"""Internal only: no token carries this mix, which the loader needs to create everything."""


class DemoNotLoadable(RuntimeError):
    """The database cannot take the demo (not migrated, or unreachable)."""


@dataclass(frozen=True, slots=True)
class DemoRegistrants:
    clinic_id: uuid.UUID
    pharmacy_id: uuid.UUID

    @property
    def ids(self) -> list[uuid.UUID]:
        return [self.clinic_id, self.pharmacy_id]


@dataclass(frozen=True, slots=True)
class DemoResult:
    registrants: DemoRegistrants
    created: dict[str, int]
    """Rows created per kind, e.g. ``{"registrants": 2, "lots": 7, ...}``."""


# Loading


class _Loader:
    """Creates rows through the services, as the demo loader, and counts what it created."""

    def __init__(self, session: AsyncSession, caller: Caller) -> None:
        self.session = session
        self.caller = caller
        self.created: Counter[str] = Counter()

    async def registrant(self, data: RegistrantCreate) -> uuid.UUID:
        registrant = await registry.create_registrant(self.session, data=data, caller=self.caller)
        self.created["registrants"] += 1
        await self._audit(registrant.id)
        return registrant.id

    async def locations(self, registrant_id: uuid.UUID, places: list[tuple[str, str]]) -> None:
        for name, kind in places:
            data = LocationCreate.model_validate({"name": name, "kind": kind})
            await registry.create_location(
                self.session, registrant_id, data=data, caller=self.caller
            )
            self.created["locations"] += 1

    async def staff(
        self,
        registrant_id: uuid.UUID,
        people: list[tuple[StaffCreate, StaffRegistrationCreate | None]],
    ) -> None:
        for person, registration in people:
            staff = await registry.create_staff(
                self.session, registrant_id, data=person, caller=self.caller
            )
            self.created["staff"] += 1
            if registration is not None:
                await registry.add_staff_registration(
                    self.session, registrant_id, staff.id, data=registration, caller=self.caller
                )
                self.created["staff_registrations"] += 1

    async def patients(self, patients: list[PatientCreate]) -> None:
        for data in patients:
            await registry.create_patient(self.session, data=data, caller=self.caller)
            self.created["patients"] += 1

    async def stock(self, stock: demo_data.Stock) -> None:
        for product_data, lots in stock:
            product, ingredients = await catalog.create_product(
                self.session, data=product_data, caller=self.caller
            )
            self.created["products"] += 1
            self.created["product_ingredients"] += len(ingredients)
            for lot in lots:
                await catalog.create_lot(self.session, product.id, data=lot, caller=self.caller)
                self.created["lots"] += 1

    async def _audit(self, registrant_id: uuid.UUID) -> None:
        # Every write is audited; this one came from the command line, not a request.
        await self.session.execute(
            insert(AuditEntry).values(
                id=uuid.uuid4(),
                at=self.caller.now,
                request_id="csledger-demo",
                subject=DEMO_LOADER.subject,
                subject_name=DEMO_LOADER.name,
                roles=sorted(DEMO_LOADER.roles),
                registrant_id=registrant_id,
                method="CLI",
                route="csledger demo",
                path="csledger demo",
                action="load_demo",
                kind="write",
                resource_type="registrant",
                resource_id=str(registrant_id),
                status_code=201,
                parameters={},
            )
        )
        self.created["audit_entries"] += 1


async def _load(loader: _Loader, today: date) -> DemoRegistrants:
    clinic_id = await loader.registrant(demo_data.clinic(today))
    pharmacy_id = await loader.registrant(demo_data.pharmacy(today))
    await loader.locations(clinic_id, demo_data.CLINIC_LOCATIONS)
    await loader.locations(pharmacy_id, demo_data.PHARMACY_LOCATIONS)
    await loader.staff(clinic_id, demo_data.clinic_staff(today))
    await loader.staff(pharmacy_id, demo_data.pharmacy_staff())
    await loader.patients(demo_data.clinic_patients(clinic_id))
    await loader.patients(demo_data.pharmacy_patients(pharmacy_id))
    await loader.stock(demo_data.clinic_stock(clinic_id, today))
    await loader.stock(demo_data.pharmacy_stock(pharmacy_id, today))
    return DemoRegistrants(clinic_id=clinic_id, pharmacy_id=pharmacy_id)


async def ensure_migrated(database: Database) -> None:
    try:
        current = await current_revision(database.engine)
    except (SQLAlchemyError, OSError) as exc:
        raise DemoNotLoadable(
            "the database is unreachable or not migrated: csledger migrate"
        ) from exc
    if current != head_revision():
        raise DemoNotLoadable(f"schema at {current}, not at head: run csledger migrate")


async def load_demo(database: Database, clock: Clock, settings: Settings) -> DemoResult | None:
    """Load the demo into a database without registrants; None (and no change) otherwise."""
    async with database.transaction() as session:
        # A write transaction (BEGIN IMMEDIATE on SQLite), so two loaders cannot both see empty.
        if await session.scalar(select(func.count()).select_from(Registrant)):
            return None
        now = clock.now()
        loader = _Loader(session, Caller(DEMO_LOADER, now, settings))
        today = now.astimezone(ZoneInfo(demo_data.TIMEZONE)).date()
        registrants = await _load(loader, today)
        activity = await load_activity(
            session, settings, clinic_id=registrants.clinic_id,
            pharmacy_id=registrants.pharmacy_id, now=now, today=today,
        )  # fmt: skip
        await report_the_loss(session, settings, clinic_id=registrants.clinic_id, now=now)
    created = dict(loader.created) | activity | {"dea_reports": 1}
    return DemoResult(registrants=registrants, created=created)


async def find_demo(database: Database) -> DemoRegistrants | None:
    """The demo registrants, found by their DEA numbers, when the demo has been loaded."""
    statement = select(Registrant.dea_number, Registrant.id).where(
        Registrant.dea_number.in_([demo_data.CLINIC_DEA, demo_data.PHARMACY_DEA])
    )
    async with database.session(write=False) as session:
        found = {row.dea_number: row.id for row in await session.execute(statement)}
    if len(found) != 2:
        return None
    return DemoRegistrants(
        clinic_id=found[demo_data.CLINIC_DEA], pharmacy_id=found[demo_data.PHARMACY_DEA]
    )


async def load_or_find(
    database: Database, clock: Clock, settings: Settings
) -> tuple[DemoResult | None, DemoRegistrants | None]:
    """What ``csledger demo`` does: the demo loaded into a migrated database that holds no
    registrant (with what was created), or else the demo found there, if it was loaded earlier."""
    await ensure_migrated(database)
    result = await load_demo(database, clock, settings)
    # A database loaded earlier (or holding other registrants) may still hold the demo.
    return result, result.registrants if result else await find_demo(database)


# What the command prints


def describe(result: DemoResult) -> str:
    counts = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in result.created.items())
    return (
        "loaded the demo:\n"
        f"  Hill Country Ketamine Clinic (REMS-certified, IV ketamine and esketamine): "
        f"{result.registrants.clinic_id}\n"
        f"  Lone Star Compounding Pharmacy: {result.registrants.pharmacy_id}\n"
        f"  created: {counts}"
    )


def served_url(settings: Settings) -> str:
    """Where ``make run`` serves: a server bound to every interface is still browsed at the
    loopback address."""
    host = "127.0.0.1" if settings.host in {"0.0.0.0", "::"} else settings.host  # noqa: S104
    return f"http://{host}:{settings.port}"


def docs_url(settings: Settings) -> str:
    return f"{served_url(settings)}/docs"


def demo_staff_claims(demo: DemoRegistrants) -> dict[str, Any]:
    """The demo's member of staff who holds every staff role at both registrants."""
    return {
        "sub": demo_data.DEMO_STAFF_SUBJECT,
        "name": "Demo User",
        "roles": [str(role) for role in DEMO_STAFF_ROLES],
        "registrants": [str(registrant_id) for registrant_id in demo.ids],
    }


async def console_sign_in_url(
    database: Database, settings: Settings, demo: DemoRegistrants, *, now: datetime
) -> str:
    """A link signing a browser into the console once, as the demo's member of staff."""
    path = await links.mint(database, settings, demo_staff_claims(demo), now=now)
    return f"{served_url(settings)}{path}"


def token_banner(
    settings: Settings,
    demo: DemoRegistrants | None,
    *,
    now: datetime,
    lifetime: timedelta = timedelta(hours=12),
) -> str:
    """Development tokens for the demo (an admin's and a staff member's) and the docs URL."""
    admin = mint_token(
        settings,
        subject="platform-admin",
        name="Platform Admin",
        roles=[Role.admin],
        registrants=[ALL_REGISTRANTS],
        now=now,
        lifetime=lifetime,
    )
    lines = [
        f"Development tokens (valid {lifetime.total_seconds() / 3600:g} hours).",
        "Platform admin (roles: admin; registrants: all):",
        f"  {admin}",
    ]
    if demo is not None:
        claims = demo_staff_claims(demo)
        staff = mint_token(
            settings,
            subject=claims["sub"],
            name=claims["name"],
            roles=list(DEMO_STAFF_ROLES),
            registrants=claims["registrants"],
            now=now,
            lifetime=lifetime,
        )
        roles = ", ".join(DEMO_STAFF_ROLES)
        lines += [
            f"Demo staff (roles: {roles}; registrants: the demo clinic and pharmacy):",
            f"  {staff}",
        ]
    lines.append(f"API docs: {docs_url(settings)}  (click Authorize and paste a token)")
    return "\n".join(lines)
