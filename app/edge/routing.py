"""The edge of every request: one unit of work, committed once, after the response is built.

Committing here rather than in a dependency means the stored idempotent response, the audit
row and the change they report commit together, and a client never sees a success for a change
that failed to commit. Every router uses :class:`UnitOfWorkRoute` (see :func:`api_router`),
which also reads every JSON body strictly (:mod:`app.core.strict_json`).
"""

from abc import abstractmethod
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit import recorder
from app.core import bulk, idempotency, strict_json
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
                if isinstance(response, Pending):
                    response = await response.commit(session, lambda done: _rows(request, done))
                    audit.committed(request)
                elif write:
                    await bulk.write(session, _rows(request, response))
                    await session.commit()
                    audit.committed(request)
                return response

        return handle


class Pending(Response):
    """What an endpoint returns when its writes are committed by a writer of their own (the
    ledger's, which commits concurrent requests together): the response it will be once they
    are. The edge hands :meth:`commit` the rows every write commits with (its stored idempotent
    response and audit rows), built from that response."""

    @abstractmethod
    async def commit(
        self, session: AsyncSession, rows_of: Callable[[Response], list[bulk.Insert]]
    ) -> Response:
        """Commit the writes with ``rows_of`` the response (``session``, the request's, may be
        the one they are committed in); return the response, or raise the request's refusal."""


def replay_differently(request: Request, body: bytes) -> None:
    """Keep ``body``, not the response, for a replay of this request's Idempotency-Key: what
    is shown only once (a secret) is never stored."""
    request.state.replay_body = body


def _rows(request: Request, response: Response) -> list[bulk.Insert]:
    """What a write commits with its change: the response stored for a replay of its
    Idempotency-Key (inserted only if no other is, else the request is refused as in flight)
    and its audit rows. Sent with the change's own last rows on PostgreSQL: one round trip,
    while the change's locks are held."""
    stored, audited = _stored_response(request, response), audit.rows_of_write(request, response)
    rows = [bulk.Insert(recorder.TABLE, audited)]
    if stored is not None:
        rows.append(idempotency.storing(stored))
    return rows


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
