"""Webhook endpoints and deliveries as the API shows them."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AnyUrl, Field, UrlConstraints, field_validator

from app.core.examples import example
from app.core.schemas import InputModel, Instant, OutputModel
from app.integrations.webhooks.events import WebhookEventType
from app.integrations.webhooks.models import DeliveryStatus

EndpointUrl = Annotated[AnyUrl, UrlConstraints(max_length=2000, allowed_schemes=["https", "http"])]
EventTypes = Annotated[list[WebhookEventType], Field(min_length=1, max_length=100)]
Description = Annotated[str | None, Field(max_length=500)]


def _unique(event_types: list[str] | None) -> list[str] | None:
    return None if event_types is None else sorted(set(event_types))


class EndpointCreate(InputModel):
    model_config = example(
        {
            "registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11",
            "url": "https://ehr.example.org/hooks/csledger",
            "event_types": ["ledger.event.administer", "ledger.event.waste"],
            "description": "EHR medication reconciliation",
        }
    )

    registrant_id: uuid.UUID
    url: EndpointUrl
    """https outside development; the host must resolve to public addresses only."""
    event_types: EventTypes
    description: Description = None
    enabled: bool = True
    include_patient_data: bool = False
    """Off by default: payloads carry ids. On, ``data.patient`` names the patient."""
    include_fhir: bool = False
    """Add the FHIR R4 resource of a dispense or an administration to the envelope."""

    _event_types = field_validator("event_types")(_unique)


class EndpointUpdate(InputModel):
    """Only the fields given change; enabling again starts a new run of failures."""

    model_config = example({"enabled": False})

    url: EndpointUrl | None = None
    event_types: EventTypes | None = None
    description: Description = None
    enabled: bool | None = None
    include_patient_data: bool | None = None
    include_fhir: bool | None = None

    _event_types = field_validator("event_types")(_unique)


class EndpointOut(OutputModel):
    id: uuid.UUID
    registrant_id: uuid.UUID
    url: str
    event_types: list[str]
    description: str | None
    enabled: bool
    include_patient_data: bool
    include_fhir: bool
    previous_secret_expires_at: datetime | None
    """While set and ahead, deliveries carry a signature with the previous secret too."""
    last_sequence: int
    consecutive_failures: int
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str | None
    """``whsec_`` + base64 of the signing key. Shown only now: store it. A replay of the
    request (its Idempotency-Key again) answers null: the secret is never kept for it."""


class SecretRotation(InputModel):
    model_config = example({"overlap_hours": 24})

    overlap_hours: Annotated[float | None, Field(ge=0, le=24 * 30)] = None
    """How long the previous secret still signs too (by default the configured overlap)."""


class Redelivery(InputModel):
    model_config = example({"since": "2026-03-01T00:00:00-06:00"})

    since: Instant
    """Every event of the endpoint's types from then on is sent again (or for the first time,
    if it happened while the endpoint was disabled)."""


class RedeliveryOut(OutputModel):
    endpoint_id: uuid.UUID
    since: datetime
    queued: int


class AttemptOut(OutputModel):
    id: uuid.UUID
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    succeeded: bool
    response_excerpt: str | None
    error: str | None


class DeliveryOut(OutputModel):
    id: uuid.UUID
    message_id: str
    """The ``webhook-id`` header and the envelope's ``id``: the same at every attempt."""
    registrant_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_type: str
    sequence: int
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    attempts: list[AttemptOut]


class DeliveryWithBody(DeliveryOut):
    body: str
    """The envelope as sent (and signed)."""
