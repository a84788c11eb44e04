"""Compounding batches, as the API takes and shows them."""

import uuid
from datetime import date, datetime
from typing import Annotated, Self

from pydantic import Field, model_validator

from app.catalog.names import LocationName, LotName, ProductName, StaffName
from app.core.examples import example
from app.core.schemas import (
    Day,
    FreeText,
    InputModel,
    Instant,
    OutputModel,
    PositiveQuantity,
    Quantity,
)

LotNumber = Annotated[str, Field(min_length=1, max_length=50)]


class IngredientIn(InputModel):
    lot_id: uuid.UUID
    """A lot of bulk powder at the batch's location."""
    quantity: PositiveQuantity = Field(examples=["30"])
    """In the lot's inventory unit (g for bulk powder)."""


class CompoundingBatchCreate(InputModel):
    model_config = example(
        {
            "registrant_id": "91ab3c5d-7e2f-4a6b-8c9d-0e1f2a3b4c55",
            "location_id": "2e9f3a4b-5c6d-4e7f-8a81-9c0d1e2f3a44",
            "product_id": "9f061a2b-2334-45e6-91f8-037e8f90a1bb",
            "lot_number": "B2026-014",
            "units": "300",
            "beyond_use_date": "2026-05-31",
            "compounded_at": "2026-03-02T11:00:00-06:00",
            "checked_by": "7de4f809-0112-43c4-9fd6-e15c6d7e8f99",
            "ingredients": [
                {"lot_id": "c2394d5e-5667-4819-842b-36a1b2c3d4ee", "quantity": "34.588"}
            ],
        }
    )

    registrant_id: uuid.UUID
    location_id: uuid.UUID
    """Where the bulk is taken from and the finished units are put."""
    product_id: uuid.UUID
    """The compound made (a product with a compound code)."""
    lot_number: LotNumber
    """The finished lot's number; the lot is created with the batch."""
    units: PositiveQuantity = Field(examples=["300"])
    beyond_use_date: Day
    compounded_at: Instant
    compounded_by: uuid.UUID | None = None
    """An integration names the pharmacist who compounded; anyone else compounds what they
    record (left out, or their own staff id)."""
    checked_by: uuid.UUID
    """The pharmacist who checked the batch: not the one who compounded it."""
    ingredients: list[IngredientIn] = Field(min_length=1, max_length=20)
    yield_reason: FreeText | None = None
    """Why the mg out differ from the mg in beyond the tolerance; kept and flagged. A record
    (from an integration, or entered late) is never refused for its yield, only flagged."""

    @model_validator(mode="after")
    def _each_lot_once(self) -> Self:
        lots = [ingredient.lot_id for ingredient in self.ingredients]
        if len(set(lots)) != len(lots):
            raise ValueError("name each ingredient lot once, with its whole quantity")
        return self


class BatchIngredientOut(OutputModel):
    """A bulk lot a batch used, and the event that consumed it."""

    lot_id: uuid.UUID
    quantity: Quantity
    mg_base: Quantity
    consume_event_id: uuid.UUID
    lot: LotName | None = None


class CompoundingBatchOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    location_id: uuid.UUID
    product_id: uuid.UUID
    finished_lot_id: uuid.UUID
    lot_number: str
    units: Quantity
    beyond_use_date: date
    compounded_at: datetime
    compounded_by: uuid.UUID
    checked_by: uuid.UUID
    ingredients: list[BatchIngredientOut]
    mg_in_base: Quantity
    mg_out_base: Quantity
    yield_percent: Quantity
    yield_reason: str | None
    broken_rules: list[str]
    produce_event_id: uuid.UUID
    created_by: str
    created_at: datetime
    location: LocationName | None = None
    product: ProductName | None = None
    finished_lot: LotName | None = None
    compounder: StaffName | None = Field(default=None, description="Who `compounded_by` names")
    checker: StaffName | None = Field(default=None, description="Who `checked_by` names")
