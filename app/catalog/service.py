"""Rules of the catalog. Services flush, never commit."""

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.catalog.models import Lot, Product, ProductIngredient
from app.catalog.schemas import LotCreate, ProductCreate
from app.catalog.substances import CONTROLS
from app.core.db import flush_unique, where_given
from app.core.errors import NotFound
from app.registry.service import get_registrant


async def create_product(
    session: AsyncSession,
    *,
    data: ProductCreate,
    caller: Caller,
) -> tuple[Product, list[ProductIngredient]]:
    await get_registrant(session, data.registrant_id, principal=caller.principal)
    caller.principal.require(Permission.inventory)
    control = CONTROLS[data.substance]
    product = Product(
        id=uuid.uuid4(),
        registrant_id=data.registrant_id,
        name=data.name,
        ndc=data.ndc,
        compound_code=data.compound_code,
        substance=data.substance,
        dea_code=control.dea_code,
        schedule=control.schedule,
        dosage_form=data.dosage_form,
        strength_value=data.strength.value,
        strength_unit=data.strength.unit,
        strength_basis=data.strength.basis,
        inventory_unit=data.inventory_unit,
        package_size=data.package_size,
        created_at=caller.now,
    )
    session.add(product)
    field = "ndc" if data.ndc else "compound_code"
    await flush_unique(
        session, pointer=f"#/{field}", detail=f"this registrant has a product with this {field}"
    )
    ingredients = [
        ProductIngredient(product_id=product.id, position=position, **ingredient.model_dump())
        for position, ingredient in enumerate(data.ingredients)
    ]
    session.add_all(ingredients)
    await session.flush()
    return product, ingredients


async def get_product(
    session: AsyncSession, product_id: uuid.UUID, *, principal: Principal
) -> Product:
    return await get_readable(session, Product, product_id, principal, what="product")


async def ingredients_of(
    session: AsyncSession, product_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[ProductIngredient]]:
    """Ingredients of many products in one query (no N+1 on list pages)."""
    found: dict[uuid.UUID, list[ProductIngredient]] = {pid: [] for pid in product_ids}
    if not product_ids:
        return found
    statement = (
        select(ProductIngredient)
        .where(ProductIngredient.product_id.in_(product_ids))
        .order_by(ProductIngredient.product_id, ProductIngredient.position)
    )
    for ingredient in (await session.scalars(statement)).all():
        found[ingredient.product_id].append(ingredient)
    return found


def products_query(
    principal: Principal,
    *,
    registrant_id: uuid.UUID | None,
    ndc: str | None,
    compound_code: str | None,
    dosage_form: str | None,
) -> Select[Product]:
    statement = within_registrants(select(Product), Product.registrant_id, principal, registrant_id)
    return where_given(
        statement,
        (Product.ndc, ndc),
        (Product.compound_code, compound_code),
        (Product.dosage_form, dosage_form),
    )


async def create_lot(
    session: AsyncSession,
    product_id: uuid.UUID,
    *,
    data: LotCreate,
    caller: Caller,
) -> Lot:
    product = await get_product(session, product_id, principal=caller.principal)
    caller.principal.require(Permission.inventory)
    lot = Lot(
        id=uuid.uuid4(),
        registrant_id=product.registrant_id,
        product_id=product.id,
        lot_number=data.lot_number,
        expires_on=data.expires_on,
        created_at=caller.now,
    )
    session.add(lot)
    await flush_unique(
        session, pointer="#/lot_number", detail="this product has a lot with this number"
    )
    return lot


async def get_lot(
    session: AsyncSession, product_id: uuid.UUID, lot_id: uuid.UUID, *, principal: Principal
) -> Lot:
    lot = await get_readable(session, Lot, lot_id, principal, what="lot")
    if lot.product_id != product_id:
        raise NotFound("lot not found")
    return lot


def lots_query(
    product: Product, *, lot_number: str | None, expires_before: date | None
) -> Select[Lot]:
    statement = select(Lot).where(Lot.product_id == product.id)
    if lot_number:
        statement = statement.where(Lot.lot_number == lot_number)
    if expires_before is not None:
        statement = statement.where(Lot.expires_on < expires_before)
    return statement


async def registrant_lots(
    session: AsyncSession, registrant_id: uuid.UUID, *, principal: Principal
) -> list[tuple[Lot, Product]]:
    """Every lot the registrant holds or held, with its product, by lot number (a person picks
    a lot by the number on its vial)."""
    principal.ensure_registrant(registrant_id)
    found = await session.execute(
        select(Lot, Product).join(Product, Product.id == Lot.product_id)
        .where(Lot.registrant_id == registrant_id)
        .order_by(Lot.lot_number, Product.name, Lot.id)
    )  # fmt: skip
    return [(lot, product) for lot, product in found]
