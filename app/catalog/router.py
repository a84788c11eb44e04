"""Catalog routes: products and their lots."""

import uuid

from fastapi import Depends, Response, status

from app.catalog import service
from app.catalog.models import Lot, Product
from app.catalog.schemas import LotCreate, LotOut, ProductCreate, ProductOut, product_out
from app.catalog.substances import DosageForm
from app.core.pagination import Page, page_of, paginate
from app.core.schemas import Day, Ndc, QueryText
from app.edge.deps import CurrentCaller, CurrentPrincipal, Idempotent, SessionDep, current_principal
from app.edge.pagination import Cursor, Limit
from app.edge.responses import set_location
from app.edge.routing import api_router

router = api_router(dependencies=[Depends(current_principal)], tags=["products"])


@router.post(
    "/products",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Idempotent],
    response_model=ProductOut,
)
async def create_product(
    body: ProductCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> ProductOut:
    product, ingredients = await service.create_product(session, data=body, caller=caller)
    set_location(response, f"/v1/products/{product.id}")
    return product_out(product, ingredients)


@router.get("/products", response_model=Page[ProductOut])
async def list_products(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    ndc: Ndc | None = None,
    compound_code: QueryText | None = None,
    dosage_form: DosageForm | None = None,
) -> dict[str, object]:
    statement = service.products_query(
        principal,
        registrant_id=registrant_id,
        ndc=ndc,
        compound_code=compound_code,
        dosage_form=dosage_form,
    )
    products, next_cursor = await paginate(
        session,
        statement,
        created_at=Product.created_at,
        row_id=Product.id,
        limit=limit,
        cursor=cursor,
    )
    ingredients = await service.ingredients_of(session, [p.id for p in products])
    return {
        "items": [product_out(p, ingredients[p.id]) for p in products],
        "next_cursor": next_cursor,
    }


@router.get("/products/{product_id}", response_model=ProductOut)
async def get_product(
    product_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> ProductOut:
    product = await service.get_product(session, product_id, principal=principal)
    ingredients = await service.ingredients_of(session, [product.id])
    return product_out(product, ingredients[product.id])


@router.post(
    "/products/{product_id}/lots",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Idempotent],
    response_model=LotOut,
)
async def create_lot(
    product_id: uuid.UUID,
    body: LotCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> Lot:
    lot = await service.create_lot(session, product_id, data=body, caller=caller)
    set_location(response, f"/v1/products/{product_id}/lots/{lot.id}")
    return lot


@router.get("/products/{product_id}/lots", response_model=Page[LotOut])
async def list_lots(
    product_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    lot_number: QueryText | None = None,
    expires_before: Day | None = None,
) -> dict[str, object]:
    product = await service.get_product(session, product_id, principal=principal)
    statement = service.lots_query(product, lot_number=lot_number, expires_before=expires_before)
    return await page_of(session, statement, Lot, limit=limit, cursor=cursor)


@router.get("/products/{product_id}/lots/{lot_id}", response_model=LotOut)
async def get_lot(
    product_id: uuid.UUID, lot_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> Lot:
    return await service.get_lot(session, product_id, lot_id, principal=principal)
