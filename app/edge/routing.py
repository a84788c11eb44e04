"""The edge of every request: one unit of work, committed once, after the response is built.

Committing here rather than in a dependency means the stored idempotent response, the audit
row and the change they report commit together, and a client never sees a success for a change
that failed to commit. Every router uses :class:`UnitOfWorkRoute` (see :func:`api_router`),
which also reads every JSON body strictly (:mod:`app.core.strict_json`).
"""

from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import recorder
from app.core import bulk, idempotency, strict_json, writeplan
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Database
from app.core.idempotency import PendingKey
from app.edge import audit
from app.edge.answers import READ_METHODS

API_PREFIX = "/v1"


class StrictJsonRequest(Request):
    """A request whose JSON body is read by :func:`strict_json.loads`: a key given twice (the
    json module would keep the last), NaN, Infinity or a number past every bound is refused."""

    async def json(self) -> Any:
        """The body, or the :class:`strict_json.Refused` error in its place: no model takes
        that, so FastAPI refuses the request once its dependencies (the token) are checked,
        and the validation handler answers with the error's pointer."""
        if not hasattr(self, "_strict_json"):
            try:
                self._strict_json = strict_json.loads(await self.body())
            except strict_json.Refused as refused:
                self._strict_json = refused
        return self._strict_json


class UnitOfWorkRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        write = not (self.methods or set()) <= READ_METHODS
        declared = audit.declared_on(self.endpoint)

        async def handle(request: Request) -> Response:
            request = StrictJsonRequest(request.scope, request.receive)
            if declared is not None:
                declared.note(request)
            database: Database = request.app.state.database
            async with database.session(write=write) as session:
                request.state.session = session
                response = await handler(request)
                if write:
                    await _record_write(session, request, response)
                    await session.commit()
                    audit.committed(request)
                return response

        return handle


def replay_differently(request: Request, body: bytes) -> None:
    """Keep ``body``, not the response, for a replay of this request's Idempotency-Key: what
    is shown only once (a secret) is never stored."""
    request.state.replay_body = body


async def _record_write(session: AsyncSession, request: Request, response: Response) -> None:
    """The response stored for a replay of its Idempotency-Key and the audit row, inserted
    together and with the writes the endpoint planned (:mod:`app.core.writeplan`): one round trip
    on PostgreSQL, while the change's locks are held. A part refused when sent (too little
    stock; a key stored meanwhile) raises here, and the whole unit of work is rolled back."""
    stored, audited = _stored_response(request, response), audit.rows_of_write(request, response)
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        if stored is not None:
            await bulk.insert_rows(session, idempotency.TABLE, [stored])
        if audited:
            await bulk.insert_rows(session, recorder.TABLE, audited)
        return
    parts = writeplan.take(session)
    if stored is not None:
        parts.append(idempotency.storing_part(dialect, stored))
    if audited:
        parts.append(bulk.insert_part(dialect, recorder.TABLE, audited, tag="a"))
    await bulk.run_together(session, parts)


def _stored_response(request: Request, response: Response) -> dict[str, Any] | None:
    pending: PendingKey | None = getattr(request.state, "idempotency", None)
    if pending is None:
        return None
    settings: Settings = request.app.state.settings
    clock: Clock = request.app.state.clock
    return idempotency.stored_response(
        pending,
        status_code=response.status_code,
        headers=dict(response.headers),
        body=getattr(request.state, "replay_body", None) or bytes(response.body),
        now=clock.now(),
        ttl=timedelta(hours=settings.idempotency_ttl_hours),
    )


def api_router(**kwargs: Any) -> APIRouter:
    """A router of the versioned API: under /v1, inside the unit of work (the problems each
    route can answer are documented from what it takes and depends on: app.edge.answers).

    Declared with its prefix (not nested in a prefixed parent) so each route knows its full
    path, which metrics and the audit log record as the route template.
    """
    return APIRouter(prefix=API_PREFIX, route_class=UnitOfWorkRoute, **kwargs)
