"""The envelope each delivery carries, and the data of each event type.

Version 1 of the envelope: ``{"id", "type", "version", "time", "registrant_id", "sequence",
"data"}`` and, for an endpoint that asks, ``"fhir"`` (the R4 resource of a dispense or an
administration). ``data`` carries ids (a ledger event as the API shows it, without its
snapshot); an endpoint allowed patient data also gets ``data.patient`` and the snapshot.
"""

import logging
import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import outbox
from app.core.schemas import OutputModel
from app.integrations.fhir.outbound import resource_of_event
from app.ledger import queries
from app.ledger.messages import LEDGER_EVENT_APPENDED
from app.ledger.models import LedgerEvent
from app.registry.models import Patient
from app.registry.schemas import PatientOut

log = logging.getLogger("csledger.webhooks")

VERSION = 1


class Envelope(OutputModel):
    """What a webhook receiver gets (version 1)."""

    id: str
    type: str
    version: int = VERSION
    time: datetime
    registrant_id: uuid.UUID
    sequence: int
    """Counts this endpoint's deliveries from 1: order by it, since retries arrive late."""
    data: dict[str, Any]
    fhir: dict[str, Any] | None = None


def message_id(delivery_id: uuid.UUID) -> str:
    """The ``webhook-id`` and envelope ``id`` of a delivery, the same at every attempt."""
    return f"msg_{delivery_id.hex}"


def body(envelope: dict[str, Any]) -> str:
    return orjson.dumps(envelope).decode()


def carries_patient_data(sent: str) -> bool:
    data = orjson.loads(sent)["data"]
    return "patient" in data or "snapshot" in data


class DataSource:
    """The data of one outbox message, read once however many endpoints receive it."""

    def __init__(self, session: AsyncSession, message: outbox.Message) -> None:
        self.session = session
        self.message = message
        self._event: LedgerEvent | None = None
        self._fhir: dict[bool, dict[str, Any] | None] = {}

    async def data(self, *, include_patient_data: bool) -> dict[str, Any]:
        if self.message.topic != LEDGER_EVENT_APPENDED:
            found = dict(self.message.payload)
        else:
            event = await self.event()
            confirmed = await queries.confirmations_of(self.session, [event.id])
            # The event as GET /v1/ledger/events/{id} shows it; the snapshot (the patient and
            # prescription as they were) only where patient data may go.
            hidden = set() if include_patient_data else {"snapshot"}
            shown = queries.event_out(event, confirmed[event.id], patients_named=True)
            found = shown.model_dump(mode="json", exclude=hidden)
        patient_id = found.get("patient_id")
        if include_patient_data and patient_id:
            found["patient"] = await self._patient(uuid.UUID(str(patient_id)))
        return found

    async def fhir(self, *, include_patient_data: bool) -> dict[str, Any] | None:
        if self.message.topic != LEDGER_EVENT_APPENDED:
            return None
        if include_patient_data not in self._fhir:
            self._fhir[include_patient_data] = await self._resource(include_patient_data)
        return self._fhir[include_patient_data]

    async def _resource(self, include_patient_data: bool) -> dict[str, Any] | None:
        """The event's FHIR resource, or None (logged) when it cannot be made: the event is
        still delivered, and the dispatch it shares with reconciliation not failed."""
        event = await self.event()
        try:
            async with self.session.begin_nested():
                return await resource_of_event(
                    self.session, event.id, include_patient_data=include_patient_data
                )
        except Exception:
            log.exception("no FHIR resource for a webhook", extra={"event_id": str(event.id)})
            return None

    async def event(self) -> LedgerEvent:
        if self._event is None:
            event_id = uuid.UUID(self.message.payload["event_id"])
            self._event = (
                await self.session.scalars(select(LedgerEvent).where(LedgerEvent.id == event_id))
            ).one()
        return self._event

    async def _patient(self, patient_id: uuid.UUID) -> dict[str, Any] | None:
        patient = await self.session.get(Patient, patient_id)
        return (
            None if patient is None else PatientOut.model_validate(patient).model_dump(mode="json")
        )
