"""FHIR senders as the admin API takes and shows them."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field

from app.core.schemas import InputModel, OutputModel

Subject = Annotated[str, Field(min_length=1, max_length=200, examples=["ehr-epic-prod"])]


class SenderCreate(InputModel):
    registrant_id: uuid.UUID
    subject: Subject
    """The integration's token subject (``sub``)."""
    location_id: uuid.UUID
    """Where its administrations outside a session and its dispenses draw stock from."""


class SenderUpdate(InputModel):
    location_id: uuid.UUID | None = None
    active: bool | None = None
    """An inactive sender's resources are refused (403)."""


class SenderOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    subject: str
    location_id: uuid.UUID
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime
