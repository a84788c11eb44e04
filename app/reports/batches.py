"""Compounding batch records: each batch of the period with the lots and quantities that went
in, the finished units, the yield, who compounded and who checked it, and its beyond-use date.
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.catalog.models import Lot, Product
from app.core.quantity import format_quantity
from app.pharmacy.models import CompoundingBatch, CompoundingIngredient
from app.registry.models import Staff
from app.reports.scope import Scope
from app.reports.streaming import FETCH_ROWS, RowSource
from app.reports.tabular import Chunks, Column, Row

NAME = "compounding_batches"
TITLE = "Compounding batch records"

_compounder = aliased(Staff)
_checker = aliased(Staff)


def statement(scope: Scope, start: datetime, end: datetime) -> Select[*tuple[Any, ...]]:
    batch = CompoundingBatch
    return (
        select(batch, Product.name.label("product"), Lot.lot_number,
               _compounder.name.label("compounded_by_name"),
               _checker.name.label("checked_by_name"))
        .join(Product, Product.id == batch.product_id)
        .join(Lot, Lot.id == batch.finished_lot_id)
        .join(_compounder, _compounder.id == batch.compounded_by)
        .join(_checker, _checker.id == batch.checked_by)
        .where(batch.registrant_id == scope.registrant.id, batch.compounded_at >= start,
               batch.compounded_at < end)
        .order_by(batch.compounded_at, batch.id)
    )  # fmt: skip


async def rows(db: AsyncSession, query: Select[*tuple[Any, ...]], scope: Scope) -> Chunks:
    result = await db.stream(query.execution_options(yield_per=FETCH_ROWS))
    async for partition in result.partitions(FETCH_ROWS):
        ingredients = await _ingredients(db, [row[0].id for row in partition])
        yield [_row(row, ingredients[row[0].id], scope) for row in partition]


async def _ingredients(db: AsyncSession, batch_ids: Sequence[uuid.UUID]) -> dict[Any, list[str]]:
    """Each batch's ingredients as "lot (product): quantity unit, mg base"."""
    found: dict[Any, list[str]] = defaultdict(list)
    result = await db.execute(
        select(CompoundingIngredient, Lot.lot_number, Product.name, Product.inventory_unit)
        .join(Lot, Lot.id == CompoundingIngredient.lot_id)
        .join(Product, Product.id == Lot.product_id)
        .where(CompoundingIngredient.batch_id.in_(batch_ids))
        .order_by(CompoundingIngredient.batch_id, CompoundingIngredient.position)
    )  # fmt: skip
    for ingredient, lot_number, product, unit in result:
        found[ingredient.batch_id].append(
            f"{lot_number} ({product}): {format_quantity(ingredient.quantity)} {unit}, "
            f"{format_quantity(ingredient.mg_base)} mg base"
        )
    return found


def _row(row: Any, ingredients: list[str], scope: Scope) -> Row:
    batch: CompoundingBatch = row[0]
    return {
        "batch_id": batch.id,
        "compounded_at": scope.local(batch.compounded_at),
        "product": row.product,
        "lot_number": row.lot_number,
        "units": batch.units,
        "beyond_use_date": batch.beyond_use_date,
        "ingredients": ingredients,
        "mg_in_base": batch.mg_in_base,
        "mg_out_base": batch.mg_out_base,
        "yield_percent": batch.yield_percent,
        "yield_reason": batch.yield_reason,
        "compounded_by": row.compounded_by_name,
        "checked_by": row.checked_by_name,
        "broken_rules": list(batch.broken_rules),
    }


def source(scope: Scope, start: datetime, end: datetime) -> RowSource:
    query = statement(scope, start, end)
    return lambda db: rows(db, query, scope)


COLUMNS: list[Column] = [
    Column("batch_id", "Batch", printed=False),
    Column("compounded_at", "Compounded"),
    Column("product", "Product"),
    Column("lot_number", "Finished lot"),
    Column("units", "Units made"),
    Column("beyond_use_date", "Beyond-use date"),
    Column("ingredients", "Ingredients", "each bulk lot: quantity used and mg of base"),
    Column("mg_in_base", "mg base in"),
    Column("mg_out_base", "mg base out"),
    Column("yield_percent", "Yield %"),
    Column("yield_reason", "Yield reason", "why a yield outside tolerance was accepted"),
    Column("compounded_by", "Compounded by"),
    Column("checked_by", "Checked by"),
    Column("broken_rules", "Broken rules"),
]
