"""API shapes of inventories and their count sheets."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from app.catalog.names import LocationName, LotName, ProductName, StaffName
from app.core.examples import example
from app.core.schemas import FreeText, InputModel, Instant, OutputModel, Quantity
from app.ledger.schemas import CountExactness, CountTime, InventoryKind


class InventoryState(StrEnum):
    open = "open"
    """Being counted."""
    signed = "signed"
    """Signed by whoever took it; its counts are on the ledger."""
    voided = "voided"
    """Abandoned before it was signed (started in error): kept, with why; nothing of it
    reached the ledger."""


class InventoryCreate(InputModel):
    """Start an inventory of the registrant's stock as of an instant that has passed."""

    model_config = example({
        "registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11",
        "kind": "biennial",
        "as_of": "2026-03-02T17:00:00-06:00",
        "taken_at": "close_of_business",
    })  # fmt: skip

    registrant_id: uuid.UUID
    kind: InventoryKind
    as_of: Instant
    taken_at: CountTime
    location_ids: Annotated[list[uuid.UUID] | None, Field(min_length=1, max_length=200)] = None
    """The locations counted; by default every storage location (vault, safe, cabinet,
    pharmacy, procedure room: every location but a session's holding)."""


class EntryCount(InputModel):
    """A lot counted at a location: what was found, exact or estimated. Counting a lot again
    replaces its count (the last one counts)."""

    model_config = example({
        "location_id": "0c7d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e22",
        "lot_id": "a0172b3c-3445-46f7-a209-148f90a1b2cc",
        "quantity": "48.5",
        "exactness": "estimated",
    })  # fmt: skip

    location_id: uuid.UUID
    lot_id: uuid.UUID
    quantity: Quantity = Field(description="What was found, in the product's inventory unit; "
                                           "zero when the lot is not there")  # fmt: skip
    exactness: CountExactness


class InventoryWitness(InputModel):
    """The witness signs with their own token; nothing else is sent."""

    model_config = example({})


class InventoryVoid(InputModel):
    """Why an open inventory is abandoned (started for the wrong instant or places, say)."""

    model_config = example({"reason": "started as of the wrong day; taken again as of 1 May"})

    reason: FreeText


class InventorySign(InputModel):
    """Whoever took the inventory signs it; nothing else is sent."""

    model_config = example({})


class EntryOut(OutputModel):
    """One line of the count sheet."""

    location_id: uuid.UUID
    lot_id: uuid.UUID
    product_id: uuid.UUID
    ledger_quantity: Quantity = Field(description="What the ledger held at the place at as_of")
    counted: Quantity | None
    exactness: CountExactness | None
    exact_required: bool = Field(description="An estimate is refused: the state's setting, or a "
                                             "container of more than 1,000 units "
                                             "(21 CFR 1304.11(e)(3))")  # fmt: skip
    variance: Quantity | None = Field(description="counted minus ledger_quantity")
    counted_by: uuid.UUID | None
    counted_at: datetime | None
    event_id: uuid.UUID | None = Field(description="The count event signing wrote")
    location: LocationName | None = None
    lot: LotName | None = None
    product: ProductName | None = None
    counter: StaffName | None = Field(default=None, description="Who `counted_by` names")


class InventoryOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    kind: InventoryKind
    as_of: datetime
    taken_at: CountTime
    location_ids: list[uuid.UUID]
    state: InventoryState
    exact_required: bool
    witness_required: bool = Field(description="A witness co-signs before whoever took it "
                                               "signs: the setting inventory_witness_required, "
                                               "or a count that shows a variance")  # fmt: skip
    started_by: uuid.UUID
    signed_by: uuid.UUID | None
    signed_at: datetime | None
    witness_id: uuid.UUID | None
    witnessed_at: datetime | None
    voided_by: str | None = Field(description="Who voided it (their token's subject)")
    voided_at: datetime | None
    void_reason: str | None
    created_at: datetime
    uncounted: int = Field(description="Lines of the sheet not yet counted")
    taker: StaffName | None = Field(
        default=None, description="Who `started_by` names: who takes it, and signs it"
    )
    witness: StaffName | None = Field(default=None, description="Who `witness_id` names")
    locations: list[LocationName] = Field(default=[], description="What `location_ids` name")


class InventoryWithSheet(InventoryOut):
    entries: list[EntryOut]
