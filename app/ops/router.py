"""Public operational endpoints: liveness, readiness, metrics."""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from app.core.answers import answering
from app.core.db import Database
from app.core.errors import ServiceUnavailable
from app.core.metrics import Metrics
from app.core.migrations import current_revision, head_revision

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up (it says nothing of the database)."""
    return {"status": "ok"}


@router.get(
    "/readyz", responses={503: {"description": "Not ready: the database is away or behind."}}
)
@answering(503)
async def readyz(request: Request) -> dict[str, str]:
    """Ready for traffic: the database answers and its schema is at the migrations' head."""
    database: Database = request.app.state.database
    try:
        current = await current_revision(database.engine)
    except (SQLAlchemyError, OSError) as exc:
        raise ServiceUnavailable("the database is unreachable or not migrated") from exc
    head = head_revision()
    if current != head:
        raise ServiceUnavailable(f"schema at {current}, migrations at {head}: run csledger migrate")
    return {"status": "ready", "schema": current or ""}


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
