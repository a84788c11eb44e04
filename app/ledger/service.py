"""Appending to the ledger: the one way stock moves, from any workflow or integration.

One append is a handful of statements in the caller's transaction: load and check references,
weigh the compliance rules (refuse an instruction, flag a record), change the balances by
conditional updates, then take the registrant's chain head (locked until commit), hash the
event onto it and insert the event with its postings.

A batch runs the same checks on each event in order, but loads the references of all of them
at once, locks the balances and chain heads they touch once, and writes its rows in a few
multi-row statements at the end: all or nothing, and a refusal names the failing event.
"""

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.principal import Principal
from app.catalog.models import Lot, Product
from app.core.db import dialect_name
from app.core.errors import AppError, FieldError, InvalidInput
from app.core.tenancy import referenced
from app.ledger import balances, queries, rows, rules, transfers
from app.ledger.models import Posting
from app.ledger.references import (
    EventReferences,
    Preloaded,
    PreloadedMany,
    Wanted,
    preload,
    preload_many,
)
from app.ledger.reversals import AlreadyReversed, reversal, withdrawal_of_a_record
from app.ledger.rows import EventRow, NewEvent, author_of
from app.ledger.schemas import EventCreate
from app.ledger.types import DIRECTIONS, PERMISSION_OF, EventType
from app.ledger.writes import PendingWrites
from app.registry.enums import LocationKind
from app.registry.models import Location, Patient, Registrant, Staff
from app.registry.people import owned_staff
from app.registry.service import get_registrant, local_date

__all__ = ["append", "append_batch", "check", "groupable"]
"""What workflows call (``ledger.append``, with the :class:`~app.auth.caller.Caller` who
acts); the rest is the ledger's own."""

_NONE = Decimal(0)


async def append(session: AsyncSession, data: EventCreate, caller: Caller) -> EventRow:
    """Append one event; returns its row as a mapping of columns."""
    postgresql = dialect_name(session) == "postgresql"
    book = balances.DeferredBook() if postgresql else balances.ConditionalBook(session)
    appender = Appender(session, caller, book)
    row = await appender.add(data)
    await appender.flush()
    return row


@dataclasses.dataclass(frozen=True, slots=True)
class Checked:
    """An event checked as its append would check it, with its balance changes: what the
    ledger's writer (:mod:`app.ledger.group_commit`) links onto its chain and writes."""

    event: NewEvent
    changes: list[balances.Change]


def groupable(data: EventCreate) -> bool:
    """Whether the writer may write ``data`` in a group: not if it names another event (a
    reversal, a transfer received), which is written at once so that a second claim of that
    event is refused as its conflict."""
    return data.reverses_event_id is None and data.transfer_event_id is None


async def check(session: AsyncSession, data: EventCreate, caller: Caller) -> Checked:
    """Check a :func:`groupable` event as :func:`append` would, reading and writing nothing
    else: the balances are checked, and the event linked, when it is written."""
    assert groupable(data)
    event, changes = await Appender(session, caller, balances.DeferredBook()).check(data)
    return Checked(event, changes)


async def append_batch(
    session: AsyncSession, events: Sequence[EventCreate], caller: Caller
) -> list[EventRow]:
    """Append ``events`` in order, all or nothing; a refusal carries the failing ``index``."""
    appender = Appender(session, caller, balances.HeldBook(session))
    await appender.prepare(events)
    rows = []
    for index, data in enumerate(events):
        try:
            rows.append(await appender.add(data))
        except AppError as error:
            raise _at_index(error, index) from error
    await appender.flush()
    return rows


def _at_index(error: AppError, index: int) -> AppError:
    prefix = f"#/events/{index}"
    error.errors = [
        FieldError(pointer=prefix + (e.pointer or "#").removeprefix("#"), detail=e.detail)
        if e.pointer or not e.parameter
        else e
        for e in error.errors
    ] or [FieldError(pointer=prefix, detail=error.detail)]  # no field named: point at the event
    error.detail = f"events[{index}]: {error.detail}"
    error.extra = error.extra | {"index": index}
    return error


class Appender:
    """Appends events in one transaction, through ``book`` for balances; call ``flush`` last."""

    def __init__(self, session: AsyncSession, caller: Caller, book: balances.Book) -> None:
        self._session = session
        self._caller = caller
        self._book = book
        self._writes = PendingWrites(session)
        self._batch: PreloadedMany | None = None
        self._invoices: set[queries.Invoice] = set()
        self._preloaded: Preloaded | None = None

    async def prepare(self, events: Sequence[EventCreate]) -> None:
        """For a batch (with a :class:`balances.HeldBook`): load what the events refer to and
        lock the chain heads, then the balances, they touch, each in one order."""
        assert isinstance(self._book, balances.HeldBook)
        principal = self._caller.principal
        visible = {e.registrant_id for e in events if principal.sees(e.registrant_id)}
        self._batch = await preload_many(self._session, _wanted(events, visible),
                                         subject=principal.subject)  # fmt: skip
        await self._writes.lock_heads(e.registrant_id for e in events
                                      if e.registrant_id in visible)  # fmt: skip
        await self._book.hold(await self._rows_touched(events, visible))

    async def _rows_touched(
        self, events: Sequence[EventCreate], visible: set[uuid.UUID]
    ) -> list[balances.Change]:
        """The balance rows the events may change, as changes of zero: for each event, its
        locations and lot where the registrant owns them (the checks refuse the rest later),
        and for each reversal the rows its target posted to."""
        assert self._batch is not None
        owned_by = {row.id: row.registrant_id for row in self._batch.rows
                    if isinstance(row, Location | Lot)}  # fmt: skip
        product_of = {row.id: row.product_id for row in self._batch.rows if isinstance(row, Lot)}
        touched = [
            balances.Change(e.registrant_id, location_id, e.lot_id, product_of[e.lot_id], _NONE)
            for e in events
            if e.lot_id is not None and owned_by.get(e.lot_id) == e.registrant_id
            for location_id in (e.location_id, e.to_location_id)
            if location_id is not None and owned_by.get(location_id) == e.registrant_id
        ]
        targets = [e.reverses_event_id for e in events if e.reverses_event_id is not None]
        if targets:
            postings = await self._session.scalars(
                select(Posting).where(Posting.event_id.in_(targets),
                                      Posting.registrant_id.in_(visible))
            )  # fmt: skip
            touched.extend(
                balances.Change(p.registrant_id, p.location_id, p.lot_id, p.product_id, _NONE)
                for p in postings
            )
        return touched

    async def add(self, data: EventCreate) -> EventRow:
        """Check ``data`` and append it; returns its row as a mapping of columns."""
        names_an_event = not groupable(data)
        if names_an_event:
            await self.flush()  # the event it names may be pending
        event, changes = await self.check(data)
        await self._book.apply(changes)
        row = await self._writes.add(event, changes)
        if names_an_event:
            await self._flush_claim(row)
        return row

    async def check(self, data: EventCreate) -> tuple[NewEvent, list[balances.Change]]:
        """The event ``data`` makes, and its balance changes, once it passes every check that
        does not depend on the balances; raises the refusal of an instruction that breaks a
        rule."""
        session, caller = self._session, self._caller
        own_staff = await self._own_staff(data)
        registrant = await get_registrant(session, data.registrant_id, principal=caller.principal)
        if not withdrawal_of_a_record(data, caller.principal):
            caller.principal.require(PERMISSION_OF[data.type])
        if data.type is EventType.reversal:
            return await reversal(session, data, registrant, caller, own_staff)
        refs = await _references(session, data, registrant, caller, own_staff)
        if data.type is EventType.receipt:
            received = await self._invoice_received(data)
            refs = dataclasses.replace(refs, invoice_received_before=received)
        event = rows.new_event(data, refs, author_of(data, caller), _judge(data, refs, caller))
        return event, rows.changes_of(event, DIRECTIONS[data.type], data.adjust_direction)

    async def _invoice_received(self, data: EventCreate) -> bool:
        """Whether the receipt's invoice is on the ledger, or among the events this append
        wrote before it (a batch's are not in the database yet)."""
        invoice = _invoice_of(data)
        if invoice is None:
            return False
        if invoice in self._invoices:
            return True
        self._invoices.add(invoice)
        return await queries.invoice_received(self._session, invoice)

    async def flush(self) -> None:
        await self._writes.flush(await self._book.store())

    async def _flush_claim(self, row: EventRow) -> None:
        """Write an event that claims another (reverses it, receives it) on its own, so that a
        concurrent claim of the same event is refused as this event's conflict."""
        try:
            await self.flush()
        except IntegrityError as exc:
            if row["reverses_event_id"] is not None:
                raise AlreadyReversed("the event has been reversed already") from exc
            raise transfers.AlreadyReceived("the transfer has been received already") from exc

    async def _own_staff(self, data: EventCreate) -> Staff | None:
        """The caller's staff row at the event's registrant (loaded with the checks' rows).

        Nothing is read for a registrant the caller cannot see: get_registrant refuses it next.
        """
        if self._batch is not None:
            return self._batch.own_staff.get(data.registrant_id)
        principal = self._caller.principal
        if not principal.sees(data.registrant_id):
            return None
        self._preloaded = await preload(
            self._session,
            registrant_id=data.registrant_id,
            location_id=data.location_id,
            to_location_id=data.to_location_id,
            lot_id=data.lot_id,
            patient_id=data.patient_id,
            subject=principal.subject,
        )  # kept: the session holds the rows only weakly
        return self._preloaded.own_staff


def _invoice_of(data: EventCreate) -> queries.Invoice | None:
    """The invoice a receipt names, when it names one whole (its number and the supplier's
    DEA number)."""
    supplier_dea = data.counterparty.dea_number if data.counterparty else None
    if data.lot_id is None or data.document_reference is None or supplier_dea is None:
        return None
    return data.registrant_id, data.lot_id, data.document_reference, supplier_dea


def _wanted(events: Sequence[EventCreate], registrant_ids: set[uuid.UUID]) -> Wanted:
    staff: set[uuid.UUID] = set()
    for event in events:
        staff.update(event.witness_ids)
        if event.performed_by is not None:
            staff.add(event.performed_by)
        if event.count is not None:
            staff.add(event.count.counted_by)
    return Wanted(
        registrant_ids=registrant_ids,
        location_ids={i for e in events for i in (e.location_id, e.to_location_id) if i},
        lot_ids={e.lot_id for e in events if e.lot_id},
        patient_ids={e.patient_id for e in events if e.patient_id},
        staff_ids=staff,
    )


async def _references(
    session: AsyncSession,
    data: EventCreate,
    registrant: Registrant,
    caller: Caller,
    own_staff: Staff | None,
) -> EventReferences:
    rid = registrant.id
    assert data.location_id is not None
    assert data.lot_id is not None
    location = await referenced(
        session,
        Location,
        data.location_id,
        registrant_id=rid,
        pointer="#/location_id",
        what="location",
    )
    to_location = None
    if data.to_location_id is not None:
        to_location = await referenced(
            session,
            Location,
            data.to_location_id,
            registrant_id=rid,
            pointer="#/to_location_id",
            what="location",
        )
    _check_discovery(data, caller)
    if data.session_id is not None and data.session_id != caller.holding_session_id:
        raise InvalidInput.at("#/session_id", "a session's events are written through the "
                                              "session (/v1/sessions/{id})")  # fmt: skip
    for place, pointer in ((location, "#/location_id"), (to_location, "#/to_location_id")):
        if place is not None and place.kind == LocationKind.in_use:
            _check_holding(place, data, caller, pointer)
    lot = await referenced(
        session, Lot, data.lot_id, registrant_id=rid, pointer="#/lot_id", what="lot"
    )
    product = await referenced(
        session, Product, lot.product_id, registrant_id=rid, pointer="#/lot_id", what="product"
    )
    patient = None
    if data.patient_id is not None:
        patient = await referenced(
            session,
            Patient,
            data.patient_id,
            registrant_id=rid,
            pointer="#/patient_id",
            what="patient",
        )
    return EventReferences(
        registrant=registrant, location=location, to_location=to_location, lot=lot,
        product=product, patient=patient,
        performer=await _performer(session, data, rid, caller.principal, own_staff),
        witnesses=await owned_staff(session, data.witness_ids, registrant_id=rid,
                                    pointer="#/witness_ids"),
        counter=(
            (await owned_staff(session, [data.count.counted_by], registrant_id=rid,
                               pointer="#/count/counted_by"))[0]
            if data.count is not None else None
        ),
        sent_transfer=(
            await transfers.sent_to(session, data.transfer_event_id, receiver=registrant)
            if data.transfer_event_id is not None else None
        ),
    )  # fmt: skip


def _check_discovery(data: EventCreate, caller: Caller) -> None:
    """A loss is discovered when it has happened and by now: the DEA's clocks run from the
    discovery, so it is not moved later (an integrity rule: records too)."""
    if data.loss is None:
        return
    skew = timedelta(seconds=caller.settings.future_skew_seconds)
    if not data.occurred_at <= data.loss.discovered_at <= caller.now + skew:
        raise InvalidInput.at("#/loss/discovered_at", "between occurred_at and now")


def _check_holding(holding: Location, data: EventCreate, caller: Caller, pointer: str) -> None:
    """A session's holding is used by its own session's workflow, each event naming the session."""
    if holding.session_id != caller.holding_session_id or data.session_id != holding.session_id:
        raise InvalidInput.at(pointer, "a session's holding is used through its session "
                                       "(/v1/sessions/{id})")  # fmt: skip


async def _performer(
    session: AsyncSession,
    data: EventCreate,
    registrant_id: uuid.UUID,
    principal: Principal,
    own_staff: Staff | None,
) -> Staff | None:
    """Integrations may name the performer; everyone else performs what they write."""
    if principal.is_integration and data.performed_by is not None:
        [staff] = await owned_staff(
            session, [data.performed_by], registrant_id=registrant_id, pointer="#/performed_by"
        )
        return staff
    return own_staff


def _judge(data: EventCreate, refs: EventReferences, caller: Caller) -> list[str]:
    """The rules this event breaks; raises for an instruction that breaks one unexcused."""
    facts = rules.Facts(
        type=data.type,
        occurred_at=data.occurred_at,
        occurred_on=local_date(refs.registrant, data.occurred_at),
        now=caller.now,
        future_skew=timedelta(seconds=caller.settings.future_skew_seconds),
        lot_expires_on=refs.lot.expires_on,
        registration_expires_on=refs.registrant.registration_expires_on,
        authorised_schedules=frozenset(refs.registrant.schedules),
        product_schedule=refs.product.schedule,
        product_substance=refs.product.substance,
        performer_id=refs.performer.id if refs.performer else None,
        witness_ids=tuple(data.witness_ids),
        counterparty_dea_number=rows.counterparty_of(data, refs).get("dea_number"),
        quantity=data.quantity or Decimal(0),
        transfer_sent_quantity=refs.sent_transfer.quantity if refs.sent_transfer else None,
        invoice_received_before=refs.invoice_received_before,
    )
    broken = rules.broken_rules(facts)
    if not caller.reports_record(data.occurred_at):
        rules.BOOK.refuse_unless_overridden(broken, data.override_reason)
    return [rule.value for rule in broken]
