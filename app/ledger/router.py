"""Ledger routes. Nothing here updates or deletes: corrections are reversals."""

import uuid
from typing import Annotated

from fastapi import Depends, Query, Request, Response, status
from pydantic import Field

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.core.examples import example
from app.core.jobs import Job
from app.core.pagination import Page, paginate
from app.core.schemas import IN_ASCII_DIGITS, InputModel, Instant, OutputModel
from app.edge.audit import audited, note
from app.edge.deps import (
    ClockDep,
    CurrentCaller,
    CurrentPrincipal,
    IdempotencyRequired,
    Idempotent,
    SessionDep,
    SettingsDep,
    current_principal,
)
from app.edge.pagination import Cursor, Limit
from app.edge.responses import serialized, set_location
from app.edge.routing import api_router
from app.ledger import (
    checkpoints,
    keys,
    proofs,
    queries,
    service,
    stock,
    transfers,
    verification_runs,
    witnesses,
)
from app.ledger.checkpoints import Checkpoint
from app.ledger.group_commit import LedgerWriter, PendingAppend, writer_of
from app.ledger.models import LedgerEvent
from app.ledger.rows import EventRow
from app.ledger.schemas import (
    RECEIPT_EXAMPLE,
    BalancesOut,
    CheckpointOut,
    ConsistencyProofOut,
    EventCreate,
    EventOut,
    EventReceipt,
    InclusionProofOut,
    VerificationCreate,
    VerificationOut,
)
from app.ledger.types import EventType
from app.registry.service import get_registrant

router = api_router(dependencies=[Depends(current_principal)], tags=["ledger"])
public_router = api_router(tags=["ledger"])
MAX_BATCH = 1000


@router.post(
    "/ledger/events",
    status_code=status.HTTP_201_CREATED,
    dependencies=IdempotencyRequired,
    response_model=EventOut,
)
@audited("ledger_event")
async def append_event(
    body: EventCreate,
    session: SessionDep,
    caller: CurrentCaller,
    writer: Annotated[LedgerWriter | None, Depends(writer_of)],
) -> Response:
    """Append one stock movement (an Idempotency-Key is required)."""

    def answer(row: EventRow) -> Response:
        out = queries.event_out(
            row, [], patients_named=caller.principal.can(Permission.read_patients)
        )
        return serialized(out, status_code=status.HTTP_201_CREATED,
                          location=f"/v1/ledger/events/{row['id']}")  # fmt: skip

    # The hot path of every pharmacy system: written with what other requests append meanwhile.
    if writer is not None and service.groupable(body):
        return PendingAppend(writer, await service.check(session, body, caller), answer)
    return answer(await service.append(session, body, caller))


class EventBatch(InputModel):
    model_config = example(
        {
            "events": [
                RECEIPT_EXAMPLE,
                {
                    "registrant_id": "6f1c2a9e-4b1d-4c3e-9a7f-2d8e5b0c1a11",
                    "type": "move",
                    "occurred_at": "2026-03-02T09:35:00-06:00",
                    "location_id": "0c7d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e22",
                    "to_location_id": "1d8e2f3a-4b5c-4d6e-9f70-8b9c0d1e2f33",
                    "lot_id": "a0172b3c-3445-46f7-a209-148f90a1b2cc",
                    "quantity": "20",
                },
            ]
        }
    )

    events: Annotated[list[EventCreate], Field(min_length=1, max_length=MAX_BATCH)]


class EventBatchOut(OutputModel):
    items: list[EventReceipt]


@router.post(
    "/ledger/events:batch",
    status_code=status.HTTP_201_CREATED,
    dependencies=IdempotencyRequired,
    response_model=EventBatchOut,
)
async def append_events(
    body: EventBatch,
    session: SessionDep,
    caller: CurrentCaller,
) -> Response:
    """Append up to 1,000 events, all or nothing; a refusal names the failing `index`.

    Answers a receipt per event, in the order sent (each whole event is at
    `GET /v1/ledger/events/{id}`)."""
    rows = await service.append_batch(session, body.events, caller)
    receipts = EventBatchOut.model_construct(items=[queries.receipt(row) for row in rows])
    return serialized(receipts, status_code=status.HTTP_201_CREATED)


@router.get("/ledger/events", response_model=Page[EventOut])
@audited("ledger_event")
async def list_events(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    type: EventType | None = None,
    location_id: uuid.UUID | None = None,
    lot_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    occurred_from: Instant | None = None,
    occurred_to: Instant | None = None,
) -> dict[str, object]:
    statement = queries.events_query(
        principal,
        registrant_id=registrant_id,
        type=type,
        location_id=location_id,
        lot_id=lot_id,
        product_id=product_id,
        patient_id=patient_id,
        occurred_from=occurred_from,
        occurred_to=occurred_to,
    )
    events, next_cursor = await paginate(
        session,
        statement,
        created_at=LedgerEvent.recorded_at,
        row_id=LedgerEvent.id,
        limit=limit,
        cursor=cursor,
    )
    confirmed = await queries.confirmations_of(session, [e.id for e in events])
    named = principal.can(Permission.read_patients)
    items = [queries.event_out(e, confirmed[e.id], patients_named=named) for e in events]
    _note_patients_shown(request, items)
    return {"items": items, "next_cursor": next_cursor}


@router.get("/ledger/transfers/incoming", response_model=Page[EventOut])
async def incoming_transfers(
    registrant_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, object]:
    """Transfers other registrants sent to this one (by its DEA number), not yet received:
    answer each with a transfer_in naming it in `transfer_event_id`."""
    receiver = await get_registrant(session, registrant_id, principal=principal)
    principal.require(Permission.inventory)
    events, next_cursor = await paginate(
        session,
        transfers.incoming(receiver),
        created_at=LedgerEvent.recorded_at,
        row_id=LedgerEvent.id,
        limit=limit,
        cursor=cursor,
    )
    named = principal.can(Permission.read_patients)
    items = [queries.event_out(e, [], patients_named=named) for e in events]
    return {"items": items, "next_cursor": next_cursor}


@router.get("/ledger/events/{event_id}", response_model=EventOut)
@audited("ledger_event", "event_id")
async def get_event(
    request: Request, event_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> EventOut:
    found = await queries.event_read(session, event_id, principal)
    _note_patients_shown(request, [found])
    return found


def _note_patients_shown(request: Request, events: list[EventOut]) -> None:
    """An answer naming a patient (a snapshot's name, address and birth date) is a read of
    patient data, audited as every other (docs/audit.md)."""
    if any(queries.shows_patient(event) for event in events):
        note(request, patient_read=True)


@router.post(
    "/ledger/events/{event_id}/witness-confirmations",
    operation_id="confirm_event_witness",
    status_code=status.HTTP_201_CREATED,
    response_model=EventOut,
)
@audited("ledger_event", "event_id")
async def confirm_witness(
    event_id: uuid.UUID,
    session: SessionDep,
    caller: CurrentCaller,
    clock: ClockDep,
) -> EventOut:
    """The caller, a witness the event names, confirms it with their own token."""
    event = await queries.get_event(session, event_id, principal=caller.principal)
    await witnesses.confirm_witness(
        session, event, Caller.at(caller.principal, clock, caller.settings)
    )
    confirmed = await queries.confirmations_of(session, [event.id])
    named = caller.principal.can(Permission.read_patients)
    return queries.event_out(event, confirmed[event.id], patients_named=named)


@router.get("/ledger/proofs/inclusion", response_model=InclusionProofOut)
async def inclusion_proof(
    event_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    tree_size: Annotated[int | None, Query(ge=1), IN_ASCII_DIGITS] = None,
) -> InclusionProofOut:
    """Proof that an event is in the registrant's tree of `tree_size` events (default: all)."""
    event = await queries.get_event(session, event_id, principal=principal)
    return await proofs.inclusion(session, event, tree_size)


@router.get(
    "/ledger/proofs/consistency", response_model=ConsistencyProofOut, response_model_by_alias=True
)
async def consistency_proof(
    registrant_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    from_size: Annotated[int, Query(alias="from", ge=1), IN_ASCII_DIGITS],
    to_size: Annotated[int | None, Query(alias="to", ge=1), IN_ASCII_DIGITS] = None,
) -> ConsistencyProofOut:
    """Proof that the tree of `to` events (default: all) extends the tree of `from` events."""
    await get_registrant(session, registrant_id, principal=principal)
    return await proofs.consistency(session, registrant_id, from_size, to_size)


@router.get("/ledger/checkpoints", response_model=Page[CheckpointOut])
async def list_checkpoints(
    registrant_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, object]:
    """Signed tree heads, oldest first; keep one to check later ones with a consistency proof."""
    await get_registrant(session, registrant_id, principal=principal)
    statement = checkpoints.of_registrant(registrant_id)
    items, next_cursor = await paginate(
        session,
        statement,
        created_at=Checkpoint.signed_at,
        row_id=Checkpoint.id,
        limit=limit,
        cursor=cursor,
    )
    return {"items": items, "next_cursor": next_cursor}


@public_router.get("/ledger/jwks.json")
async def checkpoint_keys(settings: SettingsDep) -> dict[str, list[dict[str, str]]]:
    """The public keys that sign checkpoints, current and retired (public, no token)."""
    return {"keys": keys.published_keys(settings)}


@router.post(
    "/ledger/verifications",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Idempotent],
    response_model=VerificationOut,
)
async def start_verification(
    body: VerificationCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> Job:
    """Queue a verification of the registrant's chain, Merkle roots and checkpoints."""
    job = await verification_runs.start(session, body.registrant_id, caller)
    set_location(response, f"/v1/ledger/verifications/{job.id}")
    return job


@router.get("/ledger/verifications/{verification_id}", response_model=VerificationOut)
async def get_verification(
    verification_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> Job:
    return await verification_runs.get_run(session, verification_id, principal)


@router.get("/ledger/balances", response_model=BalancesOut)
async def get_balances(
    registrant_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    as_of: Instant | None = None,
    location_id: uuid.UUID | None = None,
    lot_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
) -> BalancesOut:
    """Stock on hand per location and lot, now or as of an instant (by occurred_at)."""
    return await stock.on_hand(session, principal, registrant_id, as_of=as_of,
                               location_id=location_id, lot_id=lot_id,
                               product_id=product_id)  # fmt: skip
