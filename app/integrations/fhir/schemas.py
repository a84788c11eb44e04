"""FHIR senders as the admin API takes and shows them."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from app.auth.permissions import LEAST_SCOPES, SCOPE_MEANS, IntegrationScope
from app.core.examples import example
from app.core.schemas import FreeText, InputModel, OutputModel

Subject = Annotated[str, Field(min_length=1, max_length=200, examples=["ehr-epic-prod"])]


def _each_once(scopes: list[IntegrationScope]) -> list[IntegrationScope]:
    return sorted(set(scopes))


Scopes = Annotated[
    list[IntegrationScope],
    AfterValidator(_each_once),
    Field(
        description="What the integration may do at the registrant, beyond what its role "
        "allows anybody (least privilege): "
        + "; ".join(f"`{scope.value}`: {SCOPE_MEANS[scope]}" for scope in IntegrationScope)
        + ". Without it, an integration's request for anything else is refused (403).",
    ),
]


class SenderCreate(InputModel):
    """An integration configured at a registrant."""

    model_config = example(
        {
            "registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11",
            "subject": "ehr-feed",
            "location_id": "1d8e2f3a-4b5c-4d6e-9f70-8b9c0d1e2f33",
            "scopes": ["send_administrations"],
        }
    )

    registrant_id: uuid.UUID
    subject: Subject
    """The integration's token subject (``sub``)."""
    location_id: uuid.UUID
    """Where its administrations outside a session and its dispenses draw stock from."""
    scopes: Scopes = list(LEAST_SCOPES)


class SenderUpdate(InputModel):
    model_config = example({"scopes": ["send_administrations", "read_own_records"]})

    location_id: uuid.UUID | None = None
    scopes: Scopes | None = None
    """The scopes it has from now on (all of them: what is left out is withdrawn)."""
    active: bool | None = None
    """An inactive integration's requests are refused (403)."""


class SenderOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    subject: str
    location_id: uuid.UUID
    scopes: list[IntegrationScope]
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


CodeText = Annotated[str, Field(min_length=1, max_length=255)]


class CodeMappingCreate(InputModel):
    """A code of the sender's own code system, and the registrant's product it names."""

    model_config = example(
        {
            "system": "http://ehr.example.org/formulary",
            "code": "KET-TROCHE-100",
            "product_id": "3a7c9e1f-2b4d-4f6a-8c0e-1d3f5a7b9c22",
        }
    )

    system: CodeText
    """The coding's ``system``, exactly as the sender writes it."""
    code: CodeText
    """The coding's ``code``, exactly as the sender writes it."""
    product_id: uuid.UUID


class CodeMappingOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    sender_id: uuid.UUID
    system: str
    code: str
    product_id: uuid.UUID
    created_by: str
    created_at: datetime


class FhirRecordOut(OutputModel):
    """A resource an integration sent, as a compliance officer follows it: what it moved, or
    why it is kept unposted. The resource itself is read back by its sender at ``location``."""

    id: uuid.UUID
    registrant_id: uuid.UUID
    sender: str
    resource_type: str
    identifier: str
    """``system|value``: the resource's business identifier (``urn:csledger:fhir:resource-id``
    and the sender's own ``id`` when it sent no identifier)."""
    status: str
    medication_codes: list[str]
    """Every ``system|code`` its medication carries."""
    product_id: uuid.UUID | None
    lot_id: uuid.UUID | None
    lot_source: str | None
    """Who told the lot: ``resource`` (it named it), ``stock_on_hand`` (it named none and only
    this lot of the product was on hand where it draws from) or ``officer`` (assigned)."""
    unposted_because: str | None
    """``lot_not_determined`` or ``product_not_mapped`` while it is kept unposted; else null."""
    unposted_detail: str | None
    event_ids: list[uuid.UUID]
    reversal_event_ids: list[uuid.UUID]
    broken_rules: list[str]
    location: str
    version: int
    created_at: datetime
    updated_at: datetime


class CodeMappingAnswer(CodeMappingOut):
    """The mapping, and the records kept unposted for want of it, as they stand after it:
    posted, or still kept for their lot."""

    records: list[FhirRecordOut]


class LotAssignment(InputModel):
    """The lot a record kept unposted was given from, as a compliance officer found it."""

    model_config = example(
        {
            "lot_id": "8b2d4f6a-1c3e-4a5b-9d7f-0e2c4a6b8d44",
            "note": "Lot read from the vial label in the sharps log of 2026-03-02.",
        }
    )

    lot_id: uuid.UUID
    note: FreeText | None = None
    """How the lot was found: kept in the record's history and its discrepancy's."""
