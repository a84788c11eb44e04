"""Writes the audit row of every request before its response starts.

A write that succeeds writes its rows in its own unit of work, committed with the change
(:func:`rows_of_write`): one commit, not two. A request has a row for each registrant it
touched (see :func:`app.audit.recorder.rows`), so each registrant's audit trail holds it. Any
other request, and a write whose commit failed, gets its rows in a transaction of their own,
so a refused or failed request (whose unit of work rolled back) still leaves them. Before the
response starts, so a client never sees an answer whose audit row was not attempted. Routes
add what only they know through :func:`note`.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from fastapi import Request, Response
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.audit import recorder
from app.audit.owners import PathOwners
from app.audit.recorder import AuditNote
from app.auth.principal import Principal
from app.core.clock import Clock
from app.core.db import Database
from app.core.faults import answer_to
from app.core.metrics import Metrics
from app.edge.middleware import route_template

_AUDITED_PREFIXES = ("/v1/", "/console/")
"""The API, and the console's pages (its assets are not requests about anyone)."""
_UNAUDITED_PREFIX = "/console/static/"
_SECRET_PARAMETERS = frozenset({"code", "state", "ticket"})
"""Query parameters that are credentials (a sign-in's code and state, a sign-in link's
ticket): never written to an audit row, whose readers must not be handed a way in."""
_COMMITTED_WITH_CHANGE = "audit_committed_with_change"


def note(
    request: Request,
    *,
    registrant_id: uuid.UUID | None = None,
    resource_type: str | None = None,
    resource_id: uuid.UUID | str | None = None,
    patient_read: bool = False,
    report: bool = False,
) -> None:
    """Tell the audit row what this request touched."""
    current: AuditNote = getattr(request.state, "audit", None) or AuditNote()
    current.registrant_id = registrant_id or current.registrant_id
    current.resource_type = resource_type or current.resource_type
    current.resource_id = str(resource_id) if resource_id else current.resource_id
    if patient_read:
        current.kind = "patient_read"
    if report:
        current.kind = "report"
    request.state.audit = current


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _audited_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        recorded = False
        body: list[bytes] = []

        async def receive_and_keep() -> Message:
            # The body's chunks are kept (not copied): a refusal names whom it was aimed at.
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
            return message

        async def send_after_audit(message: Message) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                if not scope.get("state", {}).get(_COMMITTED_WITH_CHANGE):
                    headers = Headers(raw=message["headers"])
                    await _record(scope, message["status"], headers, body)
            await send(message)

        try:
            await self.app(scope, receive_and_keep, send_after_audit)
        except Exception as exc:
            if not recorded:  # the answer RequestContextMiddleware will give
                error = answer_to(exc)
                scope.setdefault("state", {})["problem_type"] = error.type_uri()
                await _record(scope, error.status, Headers(), body)
            raise


AuditedKind = Literal["patient_read", "report"]
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Declared:
    """What a route's audit rows say it is about."""

    resource_type: str
    id_from: str | None = None
    """The path parameter naming the resource."""
    resource_id: str | None = None
    """A fixed id: the name of the report a route serves."""
    kind: AuditedKind | None = None
    """For a read: why it is audited (a patient's data, a report); other reads are not."""

    def note(self, request: Request) -> None:
        named = self.resource_id or (request.path_params.get(self.id_from)
                                     if self.id_from else None)  # fmt: skip
        note(request, resource_type=self.resource_type, resource_id=named,
             patient_read=self.kind == "patient_read", report=self.kind == "report")  # fmt: skip


def audited(
    resource_type: str,
    id_from: str | None = None,
    *,
    resource_id: str | None = None,
    kind: AuditedKind | None = None,
) -> Callable[[Endpoint], Endpoint]:
    """Declare, on a route's endpoint, what its audit rows are about; the unit of work
    (app/edge/routing.py) notes it before the endpoint runs, refused or not. Whose trail the
    rows are in follows from what the request touched (docs/audit.md), never from the route."""
    declared = Declared(resource_type, id_from, resource_id, kind)

    def declare(endpoint: Endpoint) -> Endpoint:
        endpoint.audited = declared  # type: ignore[attr-defined]
        return endpoint

    return declare


def declared_on(endpoint: Callable[..., Any]) -> Declared | None:
    found: Declared | None = getattr(endpoint, "audited", None)
    return found


def rows_of_write(request: Request, response: Response) -> list[dict[str, Any]]:
    """A successful write's rows, for its unit of work to insert (then call
    :func:`committed`)."""
    if not _audited_path(request.url.path):
        return []
    return _rows(request.scope, response.status_code, Headers(raw=response.raw_headers))


def committed(request: Request) -> None:
    """The unit of work holding the row committed: the middleware writes no other."""
    setattr(request.state, _COMMITTED_WITH_CHANGE, True)


async def _record(scope: Scope, status: int, response_headers: Headers, body: list[bytes]) -> None:
    rows = _rows(scope, status, response_headers)
    if not rows:
        return
    state = scope["app"].state
    database: Database = state.database
    metrics: Metrics = state.metrics
    path_owners: PathOwners = getattr(state, "path_owners", {})
    await recorder.write_alone(database, metrics, rows, status=status, path_owners=path_owners,
                               path_params=scope.get("path_params", {}), body=body)  # fmt: skip


def _rows(scope: Scope, status: int, response_headers: Headers) -> list[dict[str, Any]]:
    """The request's rows (:func:`app.audit.recorder.rows`), from what the edge saw of it."""
    state: dict[str, Any] = scope.setdefault("state", {})
    audit_note: AuditNote = state.get("audit") or AuditNote()
    kind = recorder.kind_of(scope["method"], status, audit_note)
    if kind is None:
        return []
    principal: Principal | None = state.get("principal")
    query = QueryParams(scope.get("query_string", b""))
    path_params: dict[str, Any] = scope.get("path_params", {})
    return recorder.rows(
        at=_clock(scope).now(),
        request_id=state.get("request_id", "-"),
        principal=principal,
        method=scope["method"],
        route=route_template(scope),
        path=scope["path"],
        action=_action(scope),
        kind=kind,
        audit_note=audit_note,
        created_id=_created_id(response_headers),
        status=status,
        problem_type=state.get("problem_type"),
        parameters={key: query.getlist(key) for key in query if key not in _SECRET_PARAMETERS},
        path_registrant=path_params.get("registrant_id"),
        query_registrant=query.get("registrant_id"),
    )


def _audited_path(path: str) -> bool:
    return path.startswith(_AUDITED_PREFIXES) and not path.startswith(_UNAUDITED_PREFIX)


def _clock(scope: Scope) -> Clock:
    clock: Clock = scope["app"].state.clock
    return clock


def _action(scope: Scope) -> str:
    route: Any = scope.get("route")
    return str(getattr(route, "name", "unmatched"))


def _created_id(headers: Headers) -> str | None:
    location = headers.get("location")
    return location.rstrip("/").rsplit("/", 1)[-1] if location else None
