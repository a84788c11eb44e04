"""Reconciliation's outbox subscribers: the discrepancies that need no run, opened as what
they are about is announced: an event appended (a theft, a loss, an override, a reversal, a
record's broken rules) or a workflow step that broke rules."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.outbox import Message
from app.core.quantity import format_quantity
from app.ledger.models import LedgerEvent
from app.ledger.reversals import authored_by
from app.ledger.types import EventType
from app.reconciliation import findings
from app.reconciliation.service import record_finding
from app.registry.models import Staff


async def on_event_appended(db: AsyncSession, message: Message) -> None:
    """Outbox subscriber: open the discrepancies an event needs without a run."""
    event = await db.get(LedgerEvent, uuid.UUID(message.payload["event_id"]))
    assert event is not None
    loss = event.details.get("loss") or {}
    undone = await db.get(LedgerEvent, event.reverses_event_id) if event.reverses_event_id else None
    facts = findings.EventFacts(
        id=event.id,
        type=EventType(event.type),
        is_record=event.is_record,
        broken_rules=tuple(event.broken_rules),
        override_reason=event.override_reason,
        discovered_at=datetime.fromisoformat(loss["discovered_at"]) if loss else None,
        loss_kind=loss.get("kind"),
        reason=event.reason,
        reverses=_reversed(event, undone),
        what=_moved(event),
    )
    # Whose work: who performed and who witnessed it, and whoever recorded it; for a
    # reversal, also the event it undid.
    involved = [event, undone] if undone else [event]
    staff = [e.performed_by for e in involved if e.performed_by]
    staff += [uuid.UUID(w) for w in event.witness_ids]
    for finding in findings.event_findings(facts):
        await record_finding(
            db, registrant_id=event.registrant_id, finding=finding, now=event.recorded_at,
            event_ids=[e.id for e in involved], staff_ids=list(dict.fromkeys(staff)),
            subjects=list(dict.fromkeys(e.principal_subject for e in involved)),
            about=findings.Subject(
                location_id=event.location_id, lot_id=event.lot_id, product_id=event.product_id,
                patient_id=event.patient_id, session_id=event.session_id,
            ),
        )  # fmt: skip


def _moved(event: LedgerEvent) -> str:
    """What the event moved, from its snapshot (the names as they were when it happened)."""
    snapshot = event.snapshot
    product, unit = snapshot["product"], snapshot["product"]["inventory_unit"]
    return (f"{format_quantity(event.quantity)} {unit} of {product['name']} "
            f"(lot {snapshot['lot']['lot_number']}) at {snapshot['location']['name']}")  # fmt: skip


def _reversed(event: LedgerEvent, undone: LedgerEvent | None) -> findings.Reversed | None:
    if undone is None:
        return None
    by_author = authored_by(undone, event.principal_subject, event.performed_by)
    return findings.Reversed(undone.id, undone.type, by_author)


async def on_rules_broken(db: AsyncSession, message: Message) -> None:
    """Outbox subscriber: open the discrepancies of a workflow step that broke rules."""
    payload = message.payload
    assert message.registrant_id is not None
    names = await _names_of(db, message.registrant_id, _people(payload))
    authorizer = payload.get("authorized_by")
    facts = findings.StepFacts(
        subject=payload["subject"], subject_id=payload["subject_id"], step=payload["step"],
        rules=tuple(payload["rules"]), override_reason=payload["override_reason"],
        record=payload["record"], taken_by=names.get(payload["by"], payload["by"]),
        authorized_by=names.get(authorizer, authorizer) if authorizer else None,
    )  # fmt: skip
    for finding in findings.step_findings(facts):
        await record_finding(
            db, registrant_id=message.registrant_id, finding=finding,
            now=datetime.fromisoformat(payload["at"]),
            event_ids=[uuid.UUID(e) for e in payload["event_ids"]],
            staff_ids=[uuid.UUID(s) for s in payload["staff_ids"]], subjects=_people(payload),
            about=_step_subject(facts),
        )  # fmt: skip


async def _names_of(
    db: AsyncSession, registrant_id: uuid.UUID, subjects: list[str]
) -> dict[str, str]:
    """The staff names of the token subjects who took and authorized a step, at the
    registrant (a subject without a staff row there stays as it is)."""
    rows = await db.execute(
        select(Staff.subject, Staff.name)
        .where(Staff.registrant_id == registrant_id, Staff.subject.in_(subjects))
    )  # fmt: skip
    return {subject: name for subject, name in rows if subject is not None}


def _people(payload: dict[str, Any]) -> list[str]:
    """Who took the step and, when another person authorized its override, who did: neither
    closes the discrepancy (docs/domain.md#override-authorization)."""
    authorizer = payload.get("authorized_by")
    return [payload["by"], *([authorizer] if authorizer else [])]


def _step_subject(facts: findings.StepFacts) -> findings.Subject:
    """A session's step is about its session; the others name theirs in details."""
    if facts.subject == "session":
        return findings.Subject(session_id=uuid.UUID(facts.subject_id))
    return findings.NO_SUBJECT
