"""API shapes of the ledger."""

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from app.catalog.names import LocationName, LotName, ProductName
from app.core.examples import example
from app.core.schemas import Address, FreeText, InputModel, Instant, Name, OutputModel, Quantity
from app.ledger.types import DIRECTIONS, AdjustDirection, Direction, EventType, LossKind


class Counterparty(InputModel):
    """The other party of a receipt or transfer (supplier or receiver)."""

    name: Name
    address: Address
    dea_number: Annotated[str | None, Field(max_length=9, examples=["PK1234563"])] = None


class LossDetails(InputModel):
    discovered_at: Instant
    kind: LossKind


Packages = Annotated[int, Field(ge=0, le=1_000_000)]
"""A count of packages: the bound is far past any destruction, and keeps it a number every
report and column takes."""


class DestructionDetails(InputModel):
    method: Annotated[str, Field(min_length=1, max_length=200, examples=["incineration"])]
    place: Annotated[str, Field(min_length=1, max_length=200)]
    full_packages: Packages
    partial_packages: Packages


class InventoryKind(StrEnum):
    initial = "initial"
    biennial = "biennial"
    ad_hoc = "ad_hoc"


class CountTime(StrEnum):
    opening_of_business = "opening_of_business"
    close_of_business = "close_of_business"


class CountExactness(StrEnum):
    exact = "exact"
    estimated = "estimated"


class CountDetails(InputModel):
    """A count belongs to an inventory (21 CFR 1304.11): one id groups its counts."""

    inventory_id: uuid.UUID
    inventory_kind: InventoryKind
    taken_at: CountTime
    exactness: CountExactness
    counted_by: uuid.UUID


_TYPE_DETAILS: dict[EventType, str] = {
    EventType.loss: "loss",
    EventType.theft: "loss",
    EventType.destroy: "destruction",
    EventType.count: "count",
    EventType.adjust: "adjust_direction",
    EventType.reversal: "reverses_event_id",
    EventType.transfer_in: "transfer_event_id",
}
"""The field each type must carry (and no other type may)."""


RECEIPT_EXAMPLE: dict[str, Any] = {
    "registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11",
    "type": "receipt",
    "occurred_at": "2026-03-02T09:30:00-06:00",
    "location_id": "0c7d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e22",
    "lot_id": "a0172b3c-3445-46f7-a209-148f90a1b2cc",
    "quantity": "100",
    "document_reference": "INV-20260302-118",
    "counterparty": {
        "name": "Lone Star Medical Supply",
        "address": {
            "line1": "100 Main St",
            "city": "Austin",
            "state": "TX",
            "postal_code": "78701",
        },
        "dea_number": "RD2468014",
    },
}
"""A supplier's delivery received into the vault: the example of an event to append."""


class EventCreate(InputModel):
    """One stock movement. ``quantity`` is in the product's inventory unit and always positive:
    the type says which way it moves."""

    model_config = example(RECEIPT_EXAMPLE)

    registrant_id: uuid.UUID
    type: EventType
    location_id: uuid.UUID | None = None
    to_location_id: uuid.UUID | None = None
    lot_id: uuid.UUID | None = None
    quantity: Quantity | None = Field(
        default=None, description="Greater than zero; a count may be zero (nothing on hand)."
    )
    occurred_at: Instant
    performed_by: uuid.UUID | None = Field(
        default=None, description="Staff id; only integrations may name someone else."
    )
    witness_ids: Annotated[list[uuid.UUID], Field(max_length=5)] = []
    patient_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    prescription_id: uuid.UUID | None = None
    batch_id: uuid.UUID | None = None
    counterparty: Counterparty | None = None
    document_reference: Annotated[str | None, Field(max_length=100)] = None
    reason: FreeText | None = None
    override_reason: FreeText | None = None
    adjust_direction: AdjustDirection | None = None
    loss: LossDetails | None = None
    destruction: DestructionDetails | None = None
    count: CountDetails | None = None
    reverses_event_id: uuid.UUID | None = None
    transfer_event_id: uuid.UUID | None = Field(
        default=None, description="On a transfer_in: the sender's transfer_out event."
    )

    @field_validator("quantity")
    @classmethod
    def _positive_unless_counted(cls, value: Decimal | None, info: ValidationInfo) -> Any:
        counted = info.data.get("type") is EventType.count
        if value is not None and (value < 0 or (value == 0 and not counted)):
            raise ValueError("must be greater than zero (a count may be zero)")
        return value

    @model_validator(mode="after")
    def _fields_of_the_type(self) -> Self:
        expected = _TYPE_DETAILS.get(self.type)
        for field in sorted(set(_TYPE_DETAILS.values())):
            given = getattr(self, field) is not None
            if field == expected and not given:
                raise ValueError(f"a {self.type} event needs {field}")
            if field != expected and given:
                raise ValueError(f"{field} does not belong to a {self.type} event")
        if self.type is EventType.reversal:
            return self._reversal_names_only_its_target()
        for field in ("location_id", "lot_id", "quantity"):
            if getattr(self, field) is None:
                raise ValueError(f"a {self.type} event needs {field}")
        moves = DIRECTIONS[self.type] is Direction.moves
        if moves != (self.to_location_id is not None):
            raise ValueError("to_location_id is for move and return_to_stock events only")
        if moves and self.to_location_id == self.location_id:
            raise ValueError("to_location_id must differ from location_id")
        if self.type in (EventType.adjust, EventType.reversal) and self.reason is None:
            raise ValueError(f"a {self.type} needs a reason")
        return self

    def _reversal_names_only_its_target(self) -> Self:
        if self.reason is None:
            raise ValueError("a reversal needs a reason")
        named = [
            f
            for f in ("location_id", "to_location_id", "lot_id", "quantity")
            if getattr(self, f) is not None
        ]
        if named:
            raise ValueError(f"a reversal takes {', '.join(named)} from the event it reverses")
        return self


class WitnessStatus(StrEnum):
    not_required = "not_required"
    unwitnessed = "unwitnessed"
    witnessed = "witnessed"


class EventOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    sequence: int
    type: EventType
    location_id: uuid.UUID
    to_location_id: uuid.UUID | None
    product_id: uuid.UUID
    lot_id: uuid.UUID
    quantity: Quantity
    mg: Quantity
    occurred_at: datetime
    recorded_at: datetime
    performed_by: uuid.UUID | None
    witness_ids: list[uuid.UUID]
    witness_status: WitnessStatus
    confirmed_witness_ids: list[uuid.UUID]
    patient_id: uuid.UUID | None
    session_id: uuid.UUID | None
    prescription_id: uuid.UUID | None
    batch_id: uuid.UUID | None
    counterparty: dict[str, Any] | None
    document_reference: str | None
    reason: str | None
    details: dict[str, Any]
    reverses_event_id: uuid.UUID | None
    transfer_event_id: uuid.UUID | None
    is_record: bool
    broken_rules: list[str]
    override_reason: str | None
    principal_subject: str
    principal_name: str
    snapshot: dict[str, Any]
    prev_hash: str
    hash: str
    withheld: list[str] = Field(
        default_factory=list,
        description="Parts of the hashed body this caller is not shown (`snapshot.patient` "
        "for a caller who may not read patients); `hash` covers the body as stored",
    )


class EventReceipt(OutputModel):
    """What a batch answers for each of its events, in the order sent: where the event landed
    and what it broke. The whole event is at ``GET /v1/ledger/events/{id}``."""

    id: uuid.UUID
    registrant_id: uuid.UUID
    sequence: int
    type: EventType
    occurred_at: datetime
    recorded_at: datetime
    is_record: bool
    broken_rules: list[str]
    witness_status: WitnessStatus
    hash: str


class BalanceOut(OutputModel):
    location_id: uuid.UUID
    lot_id: uuid.UUID
    product_id: uuid.UUID
    quantity: Quantity
    location: LocationName | None = None
    lot: LotName | None = None
    product: ProductName | None = None


class BalancesOut(OutputModel):
    registrant_id: uuid.UUID
    as_of: datetime | None
    items: list[BalanceOut]


class InclusionProofOut(OutputModel):
    """RFC 9162 inclusion proof: the event's hash is leaf ``leaf_index`` of the tree of
    ``tree_size`` events whose root is ``root_hash`` (all hashes hex)."""

    registrant_id: uuid.UUID
    event_id: uuid.UUID
    leaf_index: int
    tree_size: int
    event_hash: str
    root_hash: str
    audit_path: list[str]


class ConsistencyProofOut(OutputModel):
    """RFC 9162 consistency proof: the tree of ``to`` events extends the tree of ``from``."""

    registrant_id: uuid.UUID
    from_size: int = Field(serialization_alias="from")
    to_size: int = Field(serialization_alias="to")
    from_root: str
    to_root: str
    proof: list[str]


class CheckpointOut(OutputModel):
    """A signed statement of the tree: ``jws`` verifies with the key ``kid`` of the JWKS."""

    id: uuid.UUID
    registrant_id: uuid.UUID
    tree_size: int
    root_hash: str
    signed_at: datetime
    kid: str
    jws: str


class VerificationCreate(InputModel):
    model_config = example({"registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11"})

    registrant_id: uuid.UUID


class VerificationOut(OutputModel):
    """A verification run: ``result`` names the first event that does not hold, if any."""

    id: uuid.UUID
    registrant_id: uuid.UUID | None
    status: str
    created_at: datetime
    finished_at: datetime | None
    result: dict[str, Any] | None
