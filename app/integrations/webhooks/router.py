"""Webhook routes (administrators): endpoints, deliveries and their attempts, redelivery."""

import uuid
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request, Response, status

from app.core.pagination import Page, page_of, paginate
from app.core.revisions import history
from app.edge.audit import audited
from app.edge.deps import (
    CurrentCaller,
    CurrentPrincipal,
    Idempotent,
    SessionDep,
    current_principal,
)
from app.edge.pagination import Cursor, Limit
from app.edge.responses import set_location
from app.edge.routing import api_router, replay_differently
from app.integrations.webhooks import addresses, deliveries, endpoints, payloads, schemas
from app.integrations.webhooks.events import WebhookEventType
from app.integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.registry.schemas import RevisionOut

router = api_router(dependencies=[Depends(current_principal)], tags=["webhooks"])
EndpointPath = "/webhooks/endpoints/{endpoint_id}"
DeliveryPath = "/webhooks/deliveries/{delivery_id}"


def _resolver(request: Request) -> addresses.Resolver:
    """How host names are resolved for the SSRF check (the system's, unless replaced)."""
    resolver: addresses.Resolver = getattr(
        request.app.state, "webhook_resolver", addresses.system_resolver
    )
    return resolver


ResolverDep = Annotated[addresses.Resolver, Depends(_resolver)]


@router.post("/webhooks/endpoints", operation_id="create_webhook_endpoint",
             status_code=status.HTTP_201_CREATED,
             dependencies=[Idempotent], response_model=schemas.EndpointWithSecret)  # fmt: skip
async def create_endpoint(
    body: schemas.EndpointCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
    resolver: ResolverDep,
) -> dict[str, Any]:
    """Subscribe a URL to event types. The answer carries the signing secret, shown only
    this once."""
    endpoint, secret = await endpoints.create(session, body, caller=caller, resolver=resolver)
    set_location(response, f"/v1/webhooks/endpoints/{endpoint.id}")
    return _shown_once(request, endpoint, secret)


@router.get(
    "/webhooks/endpoints",
    operation_id="list_webhook_endpoints",
    response_model=Page[schemas.EndpointOut],
)
async def list_endpoints(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    enabled: bool | None = None,
) -> dict[str, object]:
    statement = endpoints.listed(principal, registrant_id=registrant_id, enabled=enabled)
    return await page_of(session, statement, WebhookEndpoint, limit=limit, cursor=cursor)


@router.get(EndpointPath, operation_id="get_webhook_endpoint", response_model=schemas.EndpointOut)
async def get_endpoint(
    endpoint_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> WebhookEndpoint:
    return await endpoints.get(session, endpoint_id, principal=principal)


@router.patch(
    EndpointPath, operation_id="update_webhook_endpoint", response_model=schemas.EndpointOut
)
async def update_endpoint(
    endpoint_id: uuid.UUID,
    body: schemas.EndpointUpdate,
    session: SessionDep,
    caller: CurrentCaller,
    resolver: ResolverDep,
) -> WebhookEndpoint:
    """Change the URL, the event types or what payloads include; disable (its pending
    deliveries fail) or enable again. The previous version stays in the history."""
    return await endpoints.change(session, endpoint_id, body, caller=caller,
                                  resolver=resolver)  # fmt: skip


@router.get(
    EndpointPath + "/history",
    operation_id="webhook_endpoint_history",
    response_model=list[RevisionOut],
)
async def endpoint_history(
    endpoint_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> object:
    endpoint = await endpoints.get(session, endpoint_id, principal=principal)
    return await history(session, endpoint)


@router.post(EndpointPath + "/secret-rotations", operation_id="rotate_webhook_secret",
             status_code=status.HTTP_201_CREATED,
             dependencies=[Idempotent], response_model=schemas.EndpointWithSecret)  # fmt: skip
async def rotate_secret(
    endpoint_id: uuid.UUID,
    body: schemas.SecretRotation,
    request: Request,
    session: SessionDep,
    caller: CurrentCaller,
) -> dict[str, Any]:
    """A new secret, shown only this once. Until ``previous_secret_expires_at`` deliveries
    are signed with both, so receivers can switch without losing one."""
    endpoint, secret = await endpoints.rotate_secret(session, endpoint_id, body, caller=caller)
    return _shown_once(request, endpoint, secret)


@router.post(EndpointPath + "/redeliveries", operation_id="redeliver_webhook_endpoint_since",
             status_code=status.HTTP_202_ACCEPTED,
             dependencies=[Idempotent], response_model=schemas.RedeliveryOut)  # fmt: skip
async def redeliver_since(
    endpoint_id: uuid.UUID,
    body: schemas.Redelivery,
    session: SessionDep,
    caller: CurrentCaller,
) -> dict[str, Any]:
    """Send again every event of the endpoint's types since a time, including those it
    missed while disabled. Each keeps its ``webhook-id``; missed ones get new sequence numbers."""
    queued = await deliveries.redeliver_since(session, endpoint_id, body.since, caller=caller)
    return {"endpoint_id": endpoint_id, "since": body.since, "queued": queued}


@router.get(
    "/webhooks/deliveries",
    operation_id="list_webhook_deliveries",
    response_model=Page[schemas.DeliveryOut],
)
async def list_deliveries(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    endpoint_id: uuid.UUID | None = None,
    status: DeliveryStatus | None = None,
    event_type: WebhookEventType | None = None,
) -> dict[str, object]:
    """Deliveries, oldest first, each with every attempt (status code, duration, the start
    of the answer)."""
    statement = deliveries.listed(principal, registrant_id=registrant_id,
                                  endpoint_id=endpoint_id, status=status,
                                  event_type=event_type)  # fmt: skip
    found, next_cursor = await paginate(session, statement, created_at=WebhookDelivery.created_at,
                                        row_id=WebhookDelivery.id, limit=limit,
                                        cursor=cursor)  # fmt: skip
    return {"items": await deliveries.shown(session, found), "next_cursor": next_cursor}


@router.get(
    DeliveryPath, operation_id="get_webhook_delivery", response_model=schemas.DeliveryWithBody
)
@audited("webhook_delivery", "delivery_id", kind="patient_read")
async def get_delivery(
    delivery_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """One delivery with its attempts and the envelope as sent (a read of patient data, in
    the audit log, when the endpoint was sent any)."""
    found = await deliveries.get(session, delivery_id, principal=principal)
    return {**(await deliveries.shown(session, [found]))[0], "body": found.body}


@router.post(DeliveryPath + "/redeliveries", operation_id="redeliver_webhook_delivery",
             status_code=status.HTTP_202_ACCEPTED,
             dependencies=[Idempotent], response_model=schemas.DeliveryOut)  # fmt: skip
async def redeliver(
    delivery_id: uuid.UUID,
    session: SessionDep,
    caller: CurrentCaller,
) -> dict[str, Any]:
    """Send one delivery again now, from the start of the retry schedule, same ``webhook-id``."""
    found = await deliveries.redeliver(session, delivery_id, caller=caller)
    return (await deliveries.shown(session, [found]))[0]


def _shown_once(request: Request, endpoint: WebhookEndpoint, secret: str) -> dict[str, Any]:
    """The endpoint with its secret; a replay of the request answers it with ``secret`` null."""
    shown = schemas.EndpointOut.model_validate(endpoint).model_dump()
    replay = schemas.EndpointWithSecret.model_validate({**shown, "secret": None})
    replay_differently(request, replay.model_dump_json().encode())
    return {**shown, "secret": secret}


def document_deliveries(app: FastAPI) -> None:
    """What a receiver gets, in the OpenAPI document's ``webhooks`` (nothing is served)."""

    @app.webhooks.post("csledger-event", tags=["webhooks"], status_code=status.HTTP_204_NO_CONTENT)
    def delivery(
        envelope: payloads.Envelope,
        webhook_id: Annotated[
            str,
            Header(
                alias="webhook-id",
                description=(
                    "The envelope's id: the same at every attempt and redelivery "
                    "(deduplicate on it)."
                ),
            ),
        ],
        webhook_timestamp: Annotated[
            int,
            Header(
                alias="webhook-timestamp",
                description=(
                    "Unix seconds when this attempt was signed; refuse one too far from your clock."
                ),
            ),
        ],
        webhook_signature: Annotated[
            str,
            Header(
                alias="webhook-signature",
                description=(
                    "`v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`, "
                    "keyed with the base64-decoded part of the endpoint's `whsec_` secret; "
                    "during a rotation's overlap, two signatures separated by a space (accept "
                    "either)."
                ),
            ),
        ],
    ) -> None:
        """A POST to each subscribed endpoint per event (Standard Webhooks). Answer 2xx within
        the timeout; anything else is retried with backoff for about three days. Deliveries
        can arrive late and out of order: order them by ``sequence``."""
