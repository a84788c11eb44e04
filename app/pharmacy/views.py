"""Compounding batches as the API answers them: each with the names of its place, product,
lots and pharmacists beside the ids, loaded once for a whole page
(:class:`app.catalog.names.Names`)."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.catalog.names import Names
from app.pharmacy import schemas
from app.pharmacy.models import CompoundingBatch, CompoundingIngredient

Made = tuple[CompoundingBatch, list[CompoundingIngredient]]
"""A batch and the bulk lots it used, in order."""


async def batches_out(
    db: AsyncSession, principal: Principal, found: Sequence[Made]
) -> list[schemas.CompoundingBatchOut]:
    batches = [batch for batch, _ in found]
    names = await Names.load(
        db, principal,
        locations=(b.location_id for b in batches), products=(b.product_id for b in batches),
        lots=[b.finished_lot_id for b in batches]
        + [i.lot_id for _, used in found for i in used],
        staff=[b.compounded_by for b in batches] + [b.checked_by for b in batches],
    )  # fmt: skip
    return [_out(batch, used, names) for batch, used in found]


def _out(
    batch: CompoundingBatch, used: list[CompoundingIngredient], names: Names
) -> schemas.CompoundingBatchOut:
    finished = names.lots[batch.finished_lot_id]
    ingredients = [
        schemas.BatchIngredientOut.model_validate(i).model_copy(
            update={"lot": names.lots.get(i.lot_id)}
        )
        for i in used
    ]
    return schemas.CompoundingBatchOut.model_validate(
        {column.key: getattr(batch, column.key) for column in _BATCH_COLUMNS}
        | {
            "lot_number": finished.lot_number,
            "ingredients": ingredients,
            "location": names.locations.get(batch.location_id),
            "product": names.products.get(batch.product_id),
            "finished_lot": finished,
            "compounder": names.staff.get(batch.compounded_by),
            "checker": names.staff.get(batch.checked_by),
        }
    )


_BATCH_COLUMNS = tuple(CompoundingBatch.__table__.columns)
