"""Two reports of what people did: the discrepancies found in a period with their histories
and the DEA's deadlines, and the audit trail of every request (writes, reads of patient data,
report pulls and refusals)."""

import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, tzinfo
from typing import Any, TypeVar

import orjson
from sqlalchemy import RowMapping, Select, Text, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.models import AuditEntry
from app.catalog.names import Names, Within
from app.reconciliation.models import Discrepancy, DiscrepancyTransition
from app.reconciliation.service import RECONCILIATION
from app.reconciliation.workflow import Status
from app.reports.scope import Scope
from app.reports.streaming import FETCH_ROWS, RowSource, mapped, read_after_start
from app.reports.tabular import Chunks, Column, Row

DISCREPANCIES = "discrepancies"
DISCREPANCIES_TITLE = "Discrepancies"
AUDIT_TRAIL = "audit_trail"
AUDIT_TRAIL_TITLE = "Audit trail"
PLATFORM_AUDIT_TRAIL = "platform_audit_trail"
PLATFORM_AUDIT_TRAIL_TITLE = "Platform audit trail"
PLATFORM = {"id": None, "name": "csledger platform", "dea_number": None, "address": None,
            "timezone": "UTC"}  # fmt: skip
"""What a report's header says of its registrant, for the platform's trail."""


def discrepancies_statement(
    scope: Scope, start: datetime, end: datetime, status: Status | None
) -> Select[*tuple[Any, ...]]:
    """The discrepancies first found in the period, in the order they were found."""
    query = (
        select(Discrepancy)
        .where(Discrepancy.registrant_id == scope.registrant.id,
               Discrepancy.first_found_at >= start, Discrepancy.first_found_at < end)
        .order_by(Discrepancy.first_found_at, Discrepancy.id)
    )  # fmt: skip
    return query if status is None else query.where(Discrepancy.status == status.value)


async def discrepancy_rows(
    db: AsyncSession, query: Select[*tuple[Any, ...]], scope: Scope, today: date
) -> Chunks:
    """Each discrepancy with its transitions (one query per fetch) and what is overdue."""
    result = await db.stream_scalars(query.execution_options(yield_per=FETCH_ROWS))
    async for partition in result.partitions(FETCH_ROWS):
        histories = await _histories(db, [d.id for d in partition], scope)
        names = await Within.report(scope.registrant.id).names(
            db, locations=(d.location_id for d in partition), lots=(d.lot_id for d in partition),
            products=(d.product_id for d in partition),
            staff=(uuid.UUID(s) for d in partition for s in d.staff_ids),
        )  # fmt: skip
        yield [_discrepancy_row(d, histories[d.id], names, today, scope) for d in partition]


async def _histories(
    db: AsyncSession, ids: list[uuid.UUID], scope: Scope
) -> dict[uuid.UUID, list[str]]:
    found: dict[uuid.UUID, list[str]] = defaultdict(list)
    rows = await db.scalars(
        select(DiscrepancyTransition)
        .where(DiscrepancyTransition.discrepancy_id.in_(ids))
        .order_by(DiscrepancyTransition.discrepancy_id, DiscrepancyTransition.version)
    )
    for t in rows:
        found[t.discrepancy_id].append(_history_line(t, scope))
    return found


def _history_line(t: DiscrepancyTransition, scope: Scope) -> str:
    """When, from, to, the reason code, by whom; a run's move names the run and says why."""
    reason = f" ({t.reason_code})" if t.reason_code else ""
    line = (
        f"{scope.local(t.at).isoformat()} {t.from_status} -> {t.to_status}{reason} by {t.by_name}"
    )
    if t.by_subject != RECONCILIATION.subject:
        return line
    run = f" {t.run_id}" if t.run_id else ""
    return f"{line}{run}: {t.note}"


async def status_counts(
    db: AsyncSession, scope: Scope, start: datetime, end: datetime
) -> dict[str, int]:
    """How many of the discrepancies first found in the period stand at each status: those a
    run cured apart from those a person resolved."""
    counted = {
        status: count for status, count in await db.execute(
            select(Discrepancy.status, func.count())
            .where(Discrepancy.registrant_id == scope.registrant.id,
                   Discrepancy.first_found_at >= start, Discrepancy.first_found_at < end)
            .group_by(Discrepancy.status)
        )
    }  # fmt: skip
    return {status.value: counted.get(status.value, 0) for status in Status}


def _discrepancy_row(
    d: Discrepancy, history: list[str], names: Names, today: date, scope: Scope
) -> Row:
    open_report = d.reportable and d.status != Status.reported.value
    late = [what for what, due, done in (
        ("written notice", d.notice_due_on, d.notice_given_on),
        ("DEA Form 106", d.form_106_due_on, d.reported_on),
    ) if open_report and due is not None and done is None and today > due]  # fmt: skip
    return {
        "discrepancy_id": d.id, "rule": d.rule, "severity": d.severity, "status": d.status,
        "summary": d.summary, "product_id": d.product_id, "location_id": d.location_id,
        "lot_id": d.lot_id, "patient_id": d.patient_id, "session_id": d.session_id,
        "location": _named(names.locations, d.location_id, lambda n: n.name),
        "lot": _named(names.lots, d.lot_id, lambda n: n.lot_number),
        "product": _named(names.products, d.product_id, lambda n: f"{n.name} ({n.code})"),
        "staff_ids": list(d.staff_ids),
        "staff": [names.staff[uuid.UUID(s)].name for s in d.staff_ids
                  if uuid.UUID(s) in names.staff], "first_found_at": scope.local(d.first_found_at),
        "last_found_at": scope.local(d.last_found_at),
        "discovered_at": d.discovered_at and scope.local(d.discovered_at),
        "reportable": d.reportable, "notice_due_on": d.notice_due_on,
        "notice_given_on": d.notice_given_on, "form_106_due_on": d.form_106_due_on,
        "reported_on": d.reported_on, "report_reference": d.report_reference,
        "reason_code": d.reason_code, "overdue": late, "previous_id": d.previous_id,
        "history": history,
    }  # fmt: skip


N = TypeVar("N")


def _named(
    found: Mapping[uuid.UUID, N], row_id: uuid.UUID | None, say: Callable[[N], str]
) -> str | None:
    """What a person reads for ``row_id`` (None when there is none)."""
    named = found.get(row_id) if row_id is not None else None
    return say(named) if named is not None else None


DISCREPANCY_COLUMNS: list[Column] = [
    Column("discrepancy_id", "Discrepancy", printed=False),
    Column("rule", "Rule"),
    Column("severity", "Severity"),
    Column("status", "Status"),
    Column("summary", "Summary"),
    Column("location", "Location"),
    Column("lot", "Lot"),
    Column("product", "Product", "its name and NDC or compound code"),
    Column("staff", "Staff", "whose work it is about"),
    Column("product_id", "Product id", printed=False),
    Column("location_id", "Location id", printed=False),
    Column("lot_id", "Lot id", printed=False),
    Column("patient_id", "Patient id", printed=False),
    Column("session_id", "Session id", printed=False),
    Column("staff_ids", "Staff ids", "whose work it is about", printed=False),
    Column("first_found_at", "First found"),
    Column("last_found_at", "Last found"),
    Column("discovered_at", "Discovered", "a theft's or significant loss's discovery"),
    Column("reportable", "Reportable", "a theft or significant loss, reported to the DEA"),
    Column("notice_due_on", "Notice due", "written notice: one business day after discovery"),
    Column("notice_given_on", "Notice given"),
    Column("form_106_due_on", "Form 106 due", "45 days after discovery"),
    Column("reported_on", "Reported"),
    Column("report_reference", "Report reference"),
    Column("reason_code", "Reason code"),
    Column("overdue", "Overdue", "the DEA deadlines passed without the notice or report"),
    Column("previous_id", "Recurrence of", "the closed discrepancy this one recurs", printed=False),
    Column(
        "history",
        "History",
        "every transition: when, from, to, reason, by whom (a run's move: which run, and why)",
    ),
]


def audit_statement(
    registrant_id: uuid.UUID | None, start: datetime, end: datetime
) -> Select[*tuple[Any, ...]]:
    """The registrant's rows of the period; with None, the platform's (rows of requests that
    touched no registrant)."""
    entry = AuditEntry
    whose = entry.registrant_id.is_(None) if registrant_id is None else (
        entry.registrant_id == registrant_id)  # fmt: skip
    return (
        select(entry.id, entry.at, entry.request_id, entry.subject, entry.subject_name,
               cast(entry.roles, Text).label("roles"), entry.method, entry.route, entry.path,
               entry.action, entry.kind, entry.resource_type, entry.resource_id,
               entry.status_code, entry.problem_type,
               cast(entry.parameters, Text).label("parameters"))
        .where(whose, entry.at >= start, entry.at < end)
        .order_by(entry.at, entry.id)
    )  # fmt: skip


def audit_rows(db: AsyncSession, query: Select[*tuple[Any, ...]], zone: tzinfo) -> Chunks:
    """The trail's rows, read once its response has started: the pull's own audit row,
    written then, is in the trail it reads."""
    return read_after_start(db, mapped(db, query, lambda row: _audit_row(row, zone)))


def _audit_row(row: RowMapping, zone: tzinfo) -> Row:
    return {
        **row,
        "entry_id": row["id"],
        "at": row["at"].astimezone(zone),
        "roles": orjson.loads(row["roles"]),
        "parameters": orjson.dumps(
            orjson.loads(row["parameters"]), option=orjson.OPT_SORT_KEYS
        ).decode(),
    }


def audit_source(scope: Scope, start: datetime, end: datetime) -> RowSource:
    query = audit_statement(scope.registrant.id, start, end)
    return lambda db: audit_rows(db, query, scope.zone)


def platform_audit_source(start: datetime, end: datetime) -> RowSource:
    """The platform's trail, its instants in UTC (it has no clock of its own)."""
    query = audit_statement(None, start, end)
    return lambda db: audit_rows(db, query, UTC)


AUDIT_COLUMNS: list[Column] = [
    Column("entry_id", "Entry", printed=False),
    Column("at", "At", "when, on the registrant's clock"),
    Column("request_id", "Request", printed=False),
    Column("subject", "Subject", "the token's subject"),
    Column("subject_name", "Name"),
    Column("roles", "Roles"),
    Column("method", "Method"),
    Column("route", "Route", printed=False),
    Column("path", "Path", printed=False),
    Column("action", "Action"),
    Column("kind", "Kind", "write, patient_read, report, refused or error"),
    Column("resource_type", "Resource type"),
    Column("resource_id", "Resource id"),
    Column("status_code", "Status"),
    Column("problem_type", "Problem", "why it was refused"),
    Column("parameters", "Parameters", "the query parameters, as JSON"),
]
