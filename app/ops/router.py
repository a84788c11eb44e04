"""Public operational endpoints: liveness, readiness, metrics."""

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from app.core.db import Database
from app.core.errors import ServiceUnavailable
from app.core.metrics import Metrics
from app.core.migrations import current_revision, head_revision
from app.edge.answers import answering

router = APIRouter(tags=["operations"])


def _example(value: object) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {"application/json": {"example": value}}}}


@router.get("/healthz", responses=_example({"status": "ok"}))
async def healthz() -> dict[str, str]:
    """The process is up (it says nothing of the database)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses=_example({"status": "ready", "schema": "0042"})
    | {503: {"description": "Not ready: the database is away or behind."}},
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


_METRICS_EXAMPLE = """\
# HELP csledger_http_requests_total HTTP requests by method, route and status code.
# TYPE csledger_http_requests_total counter
csledger_http_requests_total{method="GET",route="/v1/registrants",status="200"} 42.0
"""


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "The Prometheus text exposition.",
            "content": {
                CONTENT_TYPE_LATEST: {"schema": {"type": "string"}, "example": _METRICS_EXAMPLE}
            },
        }
    },
)
async def metrics(request: Request) -> Response:
    registry: Metrics = request.app.state.metrics
    return Response(generate_latest(registry.registry), media_type=CONTENT_TYPE_LATEST)
