"""FHIR senders as the admin API takes and shows them."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from app.auth.permissions import LEAST_SCOPES, SCOPE_MEANS, IntegrationScope
from app.core.examples import example
from app.core.schemas import InputModel, OutputModel

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
