"""Writes the audit row of every request before its response starts.

A write that succeeds writes its rows in its own unit of work, committed with the change
(:func:`rows_of_write`): one commit, not two. A request has a row for each registrant it
touched (see :func:`_rows`), so each registrant's audit trail holds it. Any other request,
and a write whose commit failed, gets its rows in a transaction of their own, so a refused
or failed request (whose unit of work rolled back) still leaves them. Before the response
starts, so a client never sees an answer whose audit row was not attempted. Routes add what
only they know through :func:`note`.
"""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from sqlalchemy import insert
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.audit import owners
from app.audit.models import AuditEntry
from app.auth.principal import Principal
from app.core.clock import Clock
from app.core.db import Database, table_of
from app.core.faults import answer_to
from app.core.metrics import Metrics
from app.edge.middleware import route_template

log = logging.getLogger("csledger.audit")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_AUDITED_PREFIX = "/v1/"
_INSERT_ENTRY = insert(table_of(AuditEntry))
_COMMITTED_WITH_CHANGE = "audit_committed_with_change"


@dataclass(slots=True)
class AuditNote:
    registrant_id: uuid.UUID | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    kind: str | None = None
    """``patient_read`` or ``report`` for reads that must be audited."""


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
        if scope["type"] != "http" or not scope["path"].startswith(_AUDITED_PREFIX):
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


def _kind(scope: Scope, status: int, audit_note: AuditNote) -> str | None:
    if status >= 400:
        return "refused" if status < 500 else "error"
    if scope["method"] not in _READ_METHODS:
        return "write"
    return audit_note.kind


def rows_of_write(request: Request, response: Response) -> list[dict[str, Any]]:
    """A successful write's rows, for its unit of work to insert (then call
    :func:`committed`)."""
    if not request.url.path.startswith(_AUDITED_PREFIX):
        return []
    return _rows(request.scope, response.status_code, Headers(raw=response.raw_headers))


def committed(request: Request) -> None:
    """The unit of work holding the row committed: the middleware writes no other."""
    setattr(request.state, _COMMITTED_WITH_CHANGE, True)


async def _record(scope: Scope, status: int, response_headers: Headers, body: list[bytes]) -> None:
    rows = _rows(scope, status, response_headers)
    if not rows:
        return
    database: Database = scope["app"].state.database
    if status >= 400 and rows[0]["registrant_id"] is None:
        aimed_at = await _aimed_at(scope, database, body)
        rows = [rows[0] | {"id": uuid.uuid4(), "registrant_id": r} for r in aimed_at] or rows
    # One statement, so a request's rows are written together or not at all.
    statement, parameters = (_INSERT_ENTRY, rows[0]) if len(rows) == 1 else (
        _INSERT_ENTRY.values(rows), {})  # fmt: skip
    try:
        await database.execute_alone(statement, parameters)
    except Exception as exc:
        _keep_unwritten(scope, rows, exc)


_LOGGED_OF_UNWRITTEN = ("request_id", "at", "subject", "roles", "registrant_id", "method", "route",
                        "action", "kind", "resource_type", "resource_id", "status_code",
                        "problem_type")  # fmt: skip
"""What the log keeps of an audit row that could not be written: all but the subject's name,
the path and the query's parameters, which may carry personal data the log must not."""


def _keep_unwritten(scope: Scope, rows: list[dict[str, Any]], exc: Exception) -> None:
    """Audit rows the database would not take (it is away, most likely: the request was then
    refused with a 503 too): kept in the log instead, and counted on /metrics for an alert,
    so that no refusal goes unaccounted for."""
    metrics: Metrics = scope["app"].state.metrics
    for row in rows:
        metrics.audit_rows_unwritten.inc()
        logged = {name: row[name] for name in _LOGGED_OF_UNWRITTEN}
        log.error("audit row not written", exc_info=exc, extra={"audit": logged})


async def _aimed_at(scope: Scope, database: Database, body: list[bytes]) -> list[uuid.UUID]:
    """A refused request that touched no registrant: the owner of the object its path names,
    else the registrants its body names (see :mod:`app.audit.owners`)."""
    path_owners: owners.PathOwners = getattr(scope["app"].state, "path_owners", {})
    try:
        found = await owners.owner_of_path(database, path_owners, scope.get("path_params", {}))
    except Exception:  # the database away: the row is still written, as the platform's
        log.warning("owner of a refused request's path not found", exc_info=True)
        found = None
    return [found] if found else owners.claimed_in_body(b"".join(body))


def _rows(scope: Scope, status: int, response_headers: Headers) -> list[dict[str, Any]]:
    """The request's rows: one for each registrant it touched, the same but for that
    registrant, or a single one of the platform's (no registrant) when it touched none."""
    state: dict[str, Any] = scope.setdefault("state", {})
    audit_note: AuditNote = state.get("audit") or AuditNote()
    kind = _kind(scope, status, audit_note)
    if kind is None:
        return []
    principal: Principal | None = state.get("principal")
    query = QueryParams(scope.get("query_string", b""))
    row = {
        "at": _clock(scope).now(),
        "request_id": state.get("request_id", "-"),
        "subject": principal.subject if principal else None,
        "subject_name": principal.name if principal else None,
        "roles": sorted(principal.roles) if principal else [],
        "method": scope["method"],
        "route": route_template(scope),
        "path": scope["path"],
        "action": _action(scope),
        "kind": kind,
        "resource_type": audit_note.resource_type,
        "resource_id": audit_note.resource_id or _created_id(response_headers),
        "status_code": status,
        "problem_type": state.get("problem_type"),
        "parameters": {key: query.getlist(key) for key in query},
    }
    registrants: list[uuid.UUID | None] = [*_touched(scope, audit_note, principal, query)]
    return [row | {"id": uuid.uuid4(), "registrant_id": r} for r in registrants or [None]]


def _touched(
    scope: Scope, audit_note: AuditNote, principal: Principal | None, query: QueryParams
) -> list[uuid.UUID]:
    """The registrants the request named or whose data it asked about, each once, in order:
    what the route noted, the path's and the query's registrant, then every registrant a
    tenancy check was asked about (allowed or refused)."""
    path_params: dict[str, Any] = scope.get("path_params", {})
    touched = principal.touched if principal else {}
    named = [audit_note.registrant_id, owners.as_uuid(path_params.get("registrant_id")),
             owners.as_uuid(query.get("registrant_id")), *touched]  # fmt: skip
    return list(dict.fromkeys(r for r in named if r is not None))


def _clock(scope: Scope) -> Clock:
    clock: Clock = scope["app"].state.clock
    return clock


def _action(scope: Scope) -> str:
    route: Any = scope.get("route")
    return str(getattr(route, "name", "unmatched"))


def _created_id(headers: Headers) -> str | None:
    location = headers.get("location")
    return location.rstrip("/").rsplit("/", 1)[-1] if location else None
