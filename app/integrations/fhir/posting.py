"""What a stored resource did to the ledger, kept on its row: the movements it made, the rules
of the mapping it broke (flagged through reconciliation), or why it is kept unposted.

A record kept unposted (records.Held) has a discrepancy of its own, opened in the same
transaction as the record, so a compliance officer sees it at once; once the record posts
(its lot assigned, its code mapped) or its sender says no stock moved after all, that
discrepancy is cured, its transition saying how."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.catalog.models import Lot
from app.integrations.fhir import records
from app.integrations.fhir.mapping import Movement
from app.integrations.fhir.models import FhirResource, FhirSender
from app.integrations.fhir.resolve import References
from app.ledger.messages import announce_broken_rules
from app.reconciliation import service as reconciliation
from app.reconciliation.findings import Finding, Subject
from app.reconciliation.workflow import Severity

UNPOSTED_RULE = "fhir_record_unposted"
"""The discrepancy of a record kept unposted: stock it says moved is still counted on hand
(significant: a balance that overstates the shelf hides what a count would find short)."""
POSTING = reconciliation.Mover("urn:csledger:fhir-posting", "FHIR record posted")
"""Who cures an unposted record's discrepancy: the posting itself, no person."""


async def post(
    db: AsyncSession,
    row: FhirResource,
    movement: Movement,
    refs: References,
    sender: FhirSender,
    caller: Caller,
    *,
    assigned_lot: Lot | None = None,
    posted_because: str | None = None,
) -> records.Made | records.Held:
    """Move the stock ``row`` records, or keep it unposted and say why. ``posted_because``:
    what let a record kept unposted post at last (an officer's lot, a code mapped)."""
    outcome = await records.move_stock(db, movement, refs, sender, caller,
                                       assigned_lot=assigned_lot)  # fmt: skip
    row.product_id = refs.product.id if refs.product is not None else None
    if isinstance(outcome, records.Held):
        await hold(db, row, outcome, caller)
        return outcome
    await _apply(db, row, outcome, caller)
    if row.unposted_because is not None:
        why = f"; {posted_because}" if posted_because else ""
        await release(db, row, caller, _what_it_did(outcome) + why)
    return outcome


async def hold(db: AsyncSession, row: FhirResource, held: records.Held, caller: Caller) -> None:
    """Keep ``row`` unposted, with its discrepancy (opened, or brought up to date)."""
    row.unposted_because, row.unposted_detail = held.because.value, held.detail
    await db.flush()
    finding = Finding(
        rule=UNPOSTED_RULE, severity=Severity.significant, fingerprint=_fingerprint(row),
        summary=f"A FHIR {row.resource_type} from {row.sender} (identifier "
        f"{row.identifier_value}) is kept unposted: {held.detail}",
        details={"fhir_resource_id": str(row.id), "because": held.because.value,
                 "sender": row.sender},
    )  # fmt: skip
    await reconciliation.record_finding(
        db, registrant_id=row.registrant_id, finding=finding, now=caller.now, event_ids=[],
        staff_ids=[], subjects=[row.sender],
        about=Subject(product_id=row.product_id, lot_id=row.lot_id),
    )  # fmt: skip


async def release(db: AsyncSession, row: FhirResource, caller: Caller, why: str) -> None:
    """``row`` is no longer unposted: its discrepancy is cured, saying ``why``."""
    row.unposted_because = row.unposted_detail = None
    await db.flush()
    await reconciliation.cure_finding(
        db, registrant_id=row.registrant_id, fingerprint=_fingerprint(row), by=POSTING,
        note=why, now=caller.now,
    )  # fmt: skip


def _what_it_did(made: records.Made) -> str:
    if made.event_ids and made.lot is not None:
        return f"posted to lot {made.lot.lot_number}"
    return "moved nothing: " + ", ".join(rule.value for rule in made.broken_rules)


def _fingerprint(row: FhirResource) -> str:
    return f"{UNPOSTED_RULE}:fhir_resource:{row.id}"


async def _apply(db: AsyncSession, row: FhirResource, made: records.Made, caller: Caller) -> None:
    row.event_ids = [*row.event_ids, *(str(e) for e in made.event_ids)]
    row.session_id = made.session_id
    row.session_administration_ids = [str(a) for a in made.session_administration_ids]
    row.prescription_id = made.prescription_id
    row.fill_id = made.fill_id
    row.lot_id = made.lot.id if made.lot is not None else None
    row.lot_source = made.lot_source.value if made.lot_source is not None else None
    await flag(db, row, made.broken_rules, caller, made.staff_ids, made.event_ids)


async def flag(
    db: AsyncSession,
    row: FhirResource,
    broken: list[records.MappingRule],
    caller: Caller,
    staff_ids: list[uuid.UUID],
    event_ids: list[uuid.UUID],
) -> None:
    """Keep what the record broke and tell reconciliation, which opens its discrepancy."""
    row.broken_rules = [*row.broken_rules, *(rule.value for rule in broken)]
    await db.flush()
    await announce_broken_rules(
        db, registrant_id=row.registrant_id, subject="fhir_resource", subject_id=row.id,
        step=row.resource_type, rules=[rule.value for rule in broken], override_reason=None,
        record=True, by=caller.principal.subject, at=caller.now, staff_ids=staff_ids,
        event_ids=event_ids,
    )  # fmt: skip


def shown(row: FhirResource) -> dict[str, Any]:
    """A stored resource's version as its history keeps it."""
    return {"status": row.status, "digest": row.digest, "resource": row.resource,
            "event_ids": row.event_ids, "reversal_event_ids": row.reversal_event_ids,
            "broken_rules": row.broken_rules, "product_id": _text(row.product_id),
            "lot_id": _text(row.lot_id), "lot_source": row.lot_source,
            "unposted_because": row.unposted_because,
            "unposted_detail": row.unposted_detail}  # fmt: skip


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)
