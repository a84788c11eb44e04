"""Compounding: bulk lots consumed and a finished lot produced, in one transaction, through
the ledger; the mg that went in and came out compared as base (docs/domain.md#yield)."""

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.catalog.models import Lot, Product
from app.catalog.substances import DosageForm, base_mg
from app.core.db import flush_unique
from app.core.errors import AppError, FieldError, InvalidInput
from app.core.overrides import RuleBook
from app.core.quantity import rounded
from app.core.tenancy import invalid, referenced
from app.ledger import service as ledger
from app.ledger.messages import announce_broken_rules
from app.ledger.schemas import EventCreate
from app.ledger.types import EventType
from app.pharmacy import schemas
from app.pharmacy.models import CompoundingBatch, CompoundingIngredient
from app.registry.enums import StaffRole
from app.registry.models import Location, Staff
from app.registry.people import acting_staff
from app.registry.service import get_registrant, local_date


class CompoundingRule(StrEnum):
    yield_outside_tolerance = "yield_outside_tolerance"


class CompoundingRuleBroken(AppError):
    """Base of the per-rule problems; never raised itself."""

    slug = "compounding-rule-broken"
    status = 422
    title = "Compounding rule broken"
    description = "The batch breaks a compounding rule; send the reason to record it anyway."


BOOK = RuleBook.of(CompoundingRuleBroken, {
    CompoundingRule.yield_outside_tolerance: (
        "Yield outside tolerance",
        "The mg in the finished units differ from the mg of bulk used (both as base) by more "
        "than the tolerance; send yield_reason."),
}, field="yield_reason")  # fmt: skip


class IngredientLotExpired(AppError):
    slug = "ingredient-lot-expired"
    status = 422
    title = "Ingredient lot expired"
    description = "A bulk lot had expired on the day of compounding."


@dataclass(frozen=True, slots=True)
class _Ingredient:
    lot: Lot
    product: Product
    quantity: Decimal

    @property
    def mg_base(self) -> Decimal:
        mg = self.quantity * self.product.strength_value
        return rounded(base_mg(mg, self.product.substance, self.product.strength_basis))


async def create_batch(
    session: AsyncSession,
    *,
    data: schemas.CompoundingBatchCreate,
    caller: Caller,
) -> tuple[CompoundingBatch, list[CompoundingIngredient]]:
    principal = caller.principal
    registrant = await get_registrant(session, data.registrant_id, principal=principal)
    principal.require(Permission.pharmacy)
    rid = registrant.id
    await referenced(
        session,
        Location,
        data.location_id,
        registrant_id=rid,
        pointer="#/location_id",
        what="location",
    )
    product = await _compound(session, data.product_id, rid)
    compounder = await _compounder(session, rid, data.compounded_by, principal)
    checker = await _checker(session, rid, data.checked_by, compounder)
    compounding_day = local_date(registrant, data.compounded_at)
    ingredients = [
        await _ingredient(session, item, index, rid, product, compounding_day)
        for index, item in enumerate(data.ingredients)
    ]
    _check_dates_and_units(data, product, compounding_day)
    mg_in = sum((i.mg_base for i in ingredients), Decimal(0))
    mg_out = rounded(base_mg(data.units * product.strength_value, product.substance,
                         product.strength_basis))  # fmt: skip
    broken = _yield_breaks(mg_in, mg_out, caller.settings.compounding_yield_tolerance_percent)
    if not caller.reports_record(data.compounded_at):
        BOOK.refuse_unless_overridden(broken, data.yield_reason)

    batch_id = uuid.uuid4()
    consumed = [
        await ledger.append(session, _event(data, EventType.compound_consume, i.lot.id,
                                            i.quantity, batch_id, compounder), caller)
        for i in ingredients
    ]  # fmt: skip
    finished = Lot(id=uuid.uuid4(), registrant_id=rid, product_id=product.id,
                   lot_number=data.lot_number, expires_on=data.beyond_use_date,
                   created_at=caller.now)  # fmt: skip
    session.add(finished)
    await flush_unique(session, pointer="#/lot_number",
                       detail="this product has a lot with this number")  # fmt: skip
    produced = await ledger.append(
        session,
        _event(data, EventType.compound_produce, finished.id, data.units, batch_id, compounder),
        caller,
    )
    batch = CompoundingBatch(
        id=batch_id, registrant_id=rid, location_id=data.location_id, product_id=product.id,
        finished_lot_id=finished.id, units=data.units, beyond_use_date=data.beyond_use_date,
        compounded_at=data.compounded_at, compounded_by=compounder.id, checked_by=checker.id,
        mg_in_base=mg_in, mg_out_base=mg_out, yield_percent=rounded(mg_out / mg_in * 100),
        yield_reason=data.yield_reason if broken else None,
        broken_rules=[rule.value for rule in broken], produce_event_id=produced["id"],
        created_by=principal.subject, created_at=caller.now,
    )  # fmt: skip
    session.add(batch)
    await session.flush()
    rows = [
        CompoundingIngredient(batch_id=batch_id, position=position, registrant_id=rid,
                              lot_id=i.lot.id,
                              quantity=i.quantity, mg_base=i.mg_base,
                              consume_event_id=event["id"])
        for position, (i, event) in enumerate(zip(ingredients, consumed, strict=True))
    ]  # fmt: skip
    session.add_all(rows)
    await session.flush()
    await announce_broken_rules(
        session, registrant_id=rid, subject="compounding_batch", subject_id=batch_id,
        step="compounding", rules=batch.broken_rules,
        override_reason=batch.yield_reason, record=caller.reports_record(data.compounded_at),
        by=principal.subject, at=caller.now, staff_ids=(compounder.id, checker.id),
        event_ids=[produced["id"], *(event["id"] for event in consumed)],
    )  # fmt: skip
    return batch, rows


def _yield_breaks(
    mg_in: Decimal, mg_out: Decimal, tolerance_percent: Decimal
) -> list[CompoundingRule]:
    """mg out against mg in, both as base: off by more than the tolerance (compared exactly,
    not as the rounded percentage shown), a rule is broken."""
    if abs(mg_out - mg_in) * 100 > tolerance_percent * mg_in:
        return [CompoundingRule.yield_outside_tolerance]
    return []


def _event(
    data: schemas.CompoundingBatchCreate,
    type_: EventType,
    lot_id: uuid.UUID,
    quantity: Decimal,
    batch_id: uuid.UUID,
    compounder: Staff,
) -> EventCreate:
    """One of the batch's movements, performed by the compounder (an integration's batch
    names them; anyone else's is theirs, which the ledger takes from the token)."""
    return EventCreate(
        registrant_id=data.registrant_id, type=type_, location_id=data.location_id,
        lot_id=lot_id, quantity=quantity, occurred_at=data.compounded_at, batch_id=batch_id,
        performed_by=compounder.id,
    )  # fmt: skip


async def _compound(session: AsyncSession, product_id: uuid.UUID, rid: uuid.UUID) -> Product:
    product = await referenced(
        session, Product, product_id, registrant_id=rid, pointer="#/product_id", what="product"
    )
    if product.compound_code is None or product.dosage_form == DosageForm.bulk_powder:
        raise invalid("#/product_id", "compounded product (one with a compound code)")
    return product


async def _compounder(
    session: AsyncSession, rid: uuid.UUID, named: uuid.UUID | None, principal: Principal
) -> Staff:
    """Who compounded: the pharmacist an integration names, or the caller's own staff row."""
    staff = await acting_staff(session, registrant_id=rid, named=named, principal=principal,
                               pointer="#/compounded_by")  # fmt: skip
    if not _active_pharmacist(staff):
        raise invalid("#/compounded_by", "active pharmacist (the compounder)")
    return staff


def _active_pharmacist(staff: Staff) -> bool:
    """Who may compound or check a batch."""
    return staff.active and staff.role == StaffRole.pharmacist


async def _checker(
    session: AsyncSession, rid: uuid.UUID, checker_id: uuid.UUID, compounder: Staff
) -> Staff:
    checker = await referenced(
        session, Staff, checker_id, registrant_id=rid, pointer="#/checked_by", what="staff member"
    )
    if not _active_pharmacist(checker):
        raise invalid("#/checked_by", "active pharmacist")
    if checker.id == compounder.id:
        raise InvalidInput.at(
            "#/checked_by", "the pharmacist who checks is not the one who made it"
        )
    return checker


async def _ingredient(
    session: AsyncSession,
    item: schemas.IngredientIn,
    index: int,
    rid: uuid.UUID,
    compound: Product,
    compounding_day: date,
) -> _Ingredient:
    pointer = f"#/ingredients/{index}/lot_id"
    lot = await referenced(
        session, Lot, item.lot_id, registrant_id=rid, pointer=pointer, what="lot"
    )
    product = await referenced(
        session, Product, lot.product_id, registrant_id=rid, pointer=pointer, what="product"
    )
    if product.dosage_form != DosageForm.bulk_powder or product.substance != compound.substance:
        raise invalid(pointer, f"lot of bulk {compound.substance}")
    if lot.expires_on < compounding_day:
        raise IngredientLotExpired(
            f"lot {lot.lot_number} expired on {lot.expires_on.isoformat()}",
            errors=[FieldError(pointer=pointer, detail="expired before compounding")],
        )
    return _Ingredient(lot, product, item.quantity)


def _check_dates_and_units(
    data: schemas.CompoundingBatchCreate, product: Product, compounding_day: date
) -> None:
    if data.beyond_use_date <= compounding_day:
        raise InvalidInput.at("#/beyond_use_date", "must be after the day of compounding")
    if product.inventory_unit == "each" and data.units != data.units.to_integral_value():
        raise InvalidInput.at("#/units", "finished units are counted whole")


async def get_batch(
    session: AsyncSession, batch_id: uuid.UUID, *, principal: Principal
) -> tuple[CompoundingBatch, list[CompoundingIngredient]]:
    principal.require(Permission.pharmacy)
    batch = await get_readable(session, CompoundingBatch, batch_id, principal,
                               what="compounding batch")  # fmt: skip
    return batch, await _ingredients_of(session, [batch.id])


async def _ingredients_of(
    session: AsyncSession, batch_ids: list[uuid.UUID]
) -> list[CompoundingIngredient]:
    statement = (
        select(CompoundingIngredient)
        .where(CompoundingIngredient.batch_id.in_(batch_ids))
        .order_by(CompoundingIngredient.batch_id, CompoundingIngredient.position)
    )
    return list((await session.scalars(statement)).all())


def batches_query(
    principal: Principal, *, registrant_id: uuid.UUID | None, product_id: uuid.UUID | None
) -> Select[CompoundingBatch]:
    principal.require(Permission.pharmacy)
    statement = within_registrants(
        select(CompoundingBatch), CompoundingBatch.registrant_id, principal, registrant_id
    )
    if product_id is not None:
        statement = statement.where(CompoundingBatch.product_id == product_id)
    return statement


async def ingredients_by_batch(
    session: AsyncSession, batch_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[CompoundingIngredient]]:
    found: dict[uuid.UUID, list[CompoundingIngredient]] = {bid: [] for bid in batch_ids}
    for row in await _ingredients_of(session, batch_ids):
        found[row.batch_id].append(row)
    return found
