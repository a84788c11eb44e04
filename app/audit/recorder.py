"""Writes the audit row of every request before its response starts.

A write that succeeds writes its row in its own unit of work, committed with the change
(:func:`row_of_write`): one commit, not two. Any other request, and a write whose commit
failed, gets its row in a transaction of its own, so a refused or failed request (whose unit
of work rolled back) still leaves its row. Before the response starts, so a client never
sees an answer whose audit row was not attempted. Routes add what only they know through
:func:`note`.
"""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from sqlalchemy import insert
from starlette.datastructures import Headers, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.audit.models import AuditEntry
from app.auth.principal import Principal
from app.core.clock import Clock
from app.core.db import Database, table_of
from app.core.faults import answer_to
from app.core.http import route_template
from app.core.metrics import Metrics

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

        async def send_after_audit(message: Message) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                recorded = True
                if not scope.get("state", {}).get(_COMMITTED_WITH_CHANGE):
                    await _record(scope, message["status"], Headers(raw=message["headers"]))
            await send(message)

        try:
            await self.app(scope, receive, send_after_audit)
        except Exception as exc:
            if not recorded:  # the answer RequestContextMiddleware will give
                error = answer_to(exc)
                scope.setdefault("state", {})["problem_type"] = error.type_uri()
                await _record(scope, error.status, Headers())
            raise


def _kind(scope: Scope, status: int, audit_note: AuditNote) -> str | None:
    if status >= 400:
        return "refused" if status < 500 else "error"
    if scope["method"] not in _READ_METHODS:
        return "write"
    return audit_note.kind


def row_of_write(request: Request, response: Response) -> dict[str, Any] | None:
    """A successful write's row, for its unit of work to insert (then call :func:`committed`)."""
    if not request.url.path.startswith(_AUDITED_PREFIX):
        return None
    return _row(request.scope, response.status_code, Headers(raw=response.raw_headers))


def committed(request: Request) -> None:
    """The unit of work holding the row committed: the middleware writes no other."""
    setattr(request.state, _COMMITTED_WITH_CHANGE, True)


async def _record(scope: Scope, status: int, response_headers: Headers) -> None:
    row = _row(scope, status, response_headers)
    if row is None:
        return
    database: Database = scope["app"].state.database
    try:
        await database.execute_alone(_INSERT_ENTRY, row)
    except Exception as exc:
        _keep_unwritten(scope, row, exc)


_LOGGED_OF_UNWRITTEN = ("request_id", "at", "subject", "roles", "registrant_id", "method", "route",
                        "action", "kind", "resource_type", "resource_id", "status_code",
                        "problem_type")  # fmt: skip
"""What the log keeps of an audit row that could not be written: all but the subject's name,
the path and the query's parameters, which may carry personal data the log must not."""


def _keep_unwritten(scope: Scope, row: dict[str, Any], exc: Exception) -> None:
    """An audit row the database would not take (it is away, most likely: the request was
    then refused with a 503 too): kept in the log instead, and counted on /metrics for an
    alert, so that no refusal goes unaccounted for."""
    metrics: Metrics = scope["app"].state.metrics
    metrics.audit_rows_unwritten.inc()
    logged = {name: row[name] for name in _LOGGED_OF_UNWRITTEN}
    log.error("audit row not written", exc_info=exc, extra={"audit": logged})


def _row(scope: Scope, status: int, response_headers: Headers) -> dict[str, Any] | None:
    state: dict[str, Any] = scope.setdefault("state", {})
    audit_note: AuditNote = state.get("audit") or AuditNote()
    kind = _kind(scope, status, audit_note)
    if kind is None:
        return None
    principal: Principal | None = state.get("principal")
    path_params: dict[str, Any] = scope.get("path_params", {})
    query = QueryParams(scope.get("query_string", b""))
    return {
        "id": uuid.uuid4(),
        "at": _clock(scope).now(),
        "request_id": state.get("request_id", "-"),
        "subject": principal.subject if principal else None,
        "subject_name": principal.name if principal else None,
        "roles": sorted(principal.roles) if principal else [],
        "registrant_id": audit_note.registrant_id
        or _uuid(path_params.get("registrant_id"))
        or _uuid(query.get("registrant_id")),
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


def _clock(scope: Scope) -> Clock:
    clock: Clock = scope["app"].state.clock
    return clock


def _action(scope: Scope) -> str:
    route: Any = scope.get("route")
    return str(getattr(route, "name", "unmatched"))


def _created_id(headers: Headers) -> str | None:
    location = headers.get("location")
    return location.rstrip("/").rsplit("/", 1)[-1] if location else None


def _uuid(value: object) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None
