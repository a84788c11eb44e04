"""Pharmacy routes: compounding batches (pharmacists and integrations)."""

import uuid

from fastapi import Depends, Response, status

from app.core.pagination import Page, paginate
from app.edge.audit import audited
from app.edge.deps import (
    CurrentCaller,
    CurrentPrincipal,
    IdempotencyRequired,
    SessionDep,
    current_principal,
)
from app.edge.pagination import Cursor, Limit
from app.edge.responses import set_location
from app.edge.routing import api_router
from app.pharmacy import schemas, service, views
from app.pharmacy.models import CompoundingBatch

router = api_router(dependencies=[Depends(current_principal)], tags=["compounding-batches"])


@router.post(
    "/compounding-batches",
    status_code=status.HTTP_201_CREATED,
    dependencies=IdempotencyRequired,
    response_model=schemas.CompoundingBatchOut,
)
@audited("compounding_batch")
async def create_compounding_batch(
    body: schemas.CompoundingBatchCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.CompoundingBatchOut:
    """Record a batch: its bulk lots are consumed and its finished lot made, through the ledger,
    in one transaction. mg in and out are compared as base; beyond the tolerance the batch
    needs `yield_reason` and is flagged."""
    made = await service.create_batch(session, data=body, caller=caller)
    set_location(response, f"/v1/compounding-batches/{made[0].id}")
    [out] = await views.batches_out(session, caller.principal, [made])
    return out


@router.get("/compounding-batches", response_model=Page[schemas.CompoundingBatchOut])
async def list_compounding_batches(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
) -> dict[str, object]:
    statement = service.batches_query(principal, registrant_id=registrant_id, product_id=product_id)
    batches, next_cursor = await paginate(
        session,
        statement,
        created_at=CompoundingBatch.created_at,
        row_id=CompoundingBatch.id,
        limit=limit,
        cursor=cursor,
    )
    ingredients = await service.ingredients_by_batch(session, [b.id for b in batches])
    items = await views.batches_out(session, principal, [(b, ingredients[b.id]) for b in batches])
    return {"items": items, "next_cursor": next_cursor}


@router.get("/compounding-batches/{batch_id}", response_model=schemas.CompoundingBatchOut)
async def get_compounding_batch(
    batch_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> schemas.CompoundingBatchOut:
    made = await service.get_batch(session, batch_id, principal=principal)
    [out] = await views.batches_out(session, principal, [made])
    return out
