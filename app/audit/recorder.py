"""The audit rows of a request: what each says, and writing them.

A request has a row for each registrant it touched (see :func:`rows`), so each registrant's
audit trail holds it; a refused request that touched none is written at the registrant it was
aimed at (:func:`aimed_at`). The HTTP edge (:mod:`app.edge.audit`) tells what the request was
and writes its rows before its response starts: a successful write's in its own unit of work,
committed with the change, any other request's in a transaction of their own
(:func:`write_alone`).
"""

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from app.audit import owners
from app.audit.models import AuditEntry
from app.auth.principal import Principal
from app.core.db import Database, table_of
from app.core.metrics import Metrics

log = logging.getLogger("csledger.audit")
TABLE = table_of(AuditEntry)
"""The audit rows' table, for the unit of work that inserts a write's rows."""
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_INSERT_ENTRY = insert(TABLE)


@dataclass(slots=True)
class AuditNote:
    registrant_id: uuid.UUID | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    kind: str | None = None
    """``patient_read`` or ``report`` for reads that must be audited."""


def kind_of(method: str, status: int, audit_note: AuditNote) -> str | None:
    """The row's ``kind``; None for a read that need not be audited."""
    if status >= 400:
        return "refused" if status < 500 else "error"
    if method not in _READ_METHODS:
        return "write"
    return audit_note.kind


def rows(
    *,
    at: datetime,
    request_id: str,
    principal: Principal | None,
    method: str,
    route: str,
    path: str,
    action: str,
    kind: str,
    audit_note: AuditNote,
    created_id: str | None,
    status: int,
    problem_type: str | None,
    parameters: dict[str, list[str]],
    path_registrant: object,
    query_registrant: object,
) -> list[dict[str, Any]]:
    """The request's rows: one for each registrant it touched, the same but for that
    registrant, or a single one of the platform's (no registrant) when it touched none."""
    row = {
        "at": at,
        "request_id": request_id,
        "subject": principal.subject if principal else None,
        "subject_name": principal.name if principal else None,
        "roles": sorted(principal.roles) if principal else [],
        "method": method,
        "route": route,
        "path": path,
        "action": action,
        "kind": kind,
        "resource_type": audit_note.resource_type,
        "resource_id": audit_note.resource_id or created_id,
        "status_code": status,
        "problem_type": problem_type,
        "parameters": parameters,
    }
    registrants: list[uuid.UUID | None] = [
        *_touched(audit_note, principal, path_registrant, query_registrant)
    ]
    return [row | {"id": uuid.uuid4(), "registrant_id": r} for r in registrants or [None]]


def _touched(
    audit_note: AuditNote,
    principal: Principal | None,
    path_registrant: object,
    query_registrant: object,
) -> list[uuid.UUID]:
    """The registrants the request named or whose data it asked about, each once, in order:
    what the route noted, the path's and the query's registrant, then every registrant a
    tenancy check was asked about (allowed or refused)."""
    touched = principal.touched if principal else {}
    named = [audit_note.registrant_id, owners.as_uuid(path_registrant),
             owners.as_uuid(query_registrant), *touched]  # fmt: skip
    return list(dict.fromkeys(r for r in named if r is not None))


async def write_alone(
    database: Database,
    metrics: Metrics,
    rows: list[dict[str, Any]],
    *,
    status: int,
    path_owners: owners.PathOwners,
    path_params: Mapping[str, Any],
    body: list[bytes],
) -> None:
    """Write a request's rows in a transaction of their own; a refusal that touched no
    registrant's data is written at the registrants it was aimed at (:func:`aimed_at`)."""
    if status >= 400 and rows[0]["registrant_id"] is None:
        aimed = await aimed_at(database, path_owners, path_params, body)
        rows = [rows[0] | {"id": uuid.uuid4(), "registrant_id": r} for r in aimed] or rows
    # One statement, so a request's rows are written together or not at all.
    statement, parameters = (_INSERT_ENTRY, rows[0]) if len(rows) == 1 else (
        _INSERT_ENTRY.values(rows), {})  # fmt: skip
    try:
        await database.execute_alone(statement, parameters)
    except Exception as exc:
        _keep_unwritten(metrics, rows, exc)


_LOGGED_OF_UNWRITTEN = ("request_id", "at", "subject", "roles", "registrant_id", "method", "route",
                        "action", "kind", "resource_type", "resource_id", "status_code",
                        "problem_type")  # fmt: skip
"""What the log keeps of an audit row that could not be written: all but the subject's name,
the path and the query's parameters, which may carry personal data the log must not."""


def _keep_unwritten(metrics: Metrics, rows: list[dict[str, Any]], exc: Exception) -> None:
    """Audit rows the database would not take (it is away, most likely: the request was then
    refused with a 503 too): kept in the log instead, and counted on /metrics for an alert,
    so that no refusal goes unaccounted for."""
    for row in rows:
        metrics.audit_rows_unwritten.inc()
        logged = {name: row[name] for name in _LOGGED_OF_UNWRITTEN}
        log.error("audit row not written", exc_info=exc, extra={"audit": logged})


async def aimed_at(
    database: Database,
    path_owners: owners.PathOwners,
    path_params: Mapping[str, Any],
    body: list[bytes],
) -> list[uuid.UUID]:
    """A refused request that touched no registrant: the owner of the object its path names,
    else the registrants its body names (see :mod:`app.audit.owners`)."""
    try:
        found = await owners.owner_of_path(database, path_owners, path_params)
    except Exception:  # the database away: the row is still written, as the platform's
        log.warning("owner of a refused request's path not found", exc_info=True)
        found = None
    return [found] if found else owners.claimed_in_body(b"".join(body))
