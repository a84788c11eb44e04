"""What a reconciliation run found for one registrant and period, as the rules read it: the
counts, adjustments, session ends, waste, forms, expired stock, peer statistics and open
reports its queries gathered (app/reconciliation/queries.py)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from app.reconciliation.findings import NO_SUBJECT, Subject
from app.reconciliation.peers import PeerStat
from app.reconciliation.words import Words


@dataclass(frozen=True, slots=True)
class Count:
    event_id: uuid.UUID
    location_id: uuid.UUID
    product_id: uuid.UUID
    lot_id: uuid.UUID
    occurred_at: datetime
    counted: Decimal
    expected: Decimal
    """The balance at the count's instant, from the ledger's postings."""
    usage: Decimal
    """What left that location and lot in the 30 days before the count (read for the
    period's counts only: zero for the pattern's earlier ones)."""
    in_period: bool
    """Counts before the period are read only for the pattern."""
    counted_by: str | None


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A decrease of the book (an ``adjust`` event), in the period or the window before it."""

    event_id: uuid.UUID
    location_id: uuid.UUID
    product_id: uuid.UUID
    lot_id: uuid.UUID
    occurred_at: datetime
    quantity: Decimal
    performed_by: str | None
    in_period: bool


@dataclass(frozen=True, slots=True)
class SessionEnd:
    session_id: uuid.UUID
    unresolved_mg: Decimal
    staff_ids: tuple[str, ...]
    ended_at: datetime
    status: str
    """Discharged or aborted."""
    esketamine_mg: Decimal | None = None
    """What an esketamine session that was discharged gave (None for any other)."""
    patient_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None
    event_ids: tuple[uuid.UUID, ...] = ()
    """The session's ledger events (reversed ones left out), in their order."""


@dataclass(frozen=True, slots=True)
class Waste:
    event_id: uuid.UUID
    session_id: uuid.UUID
    room_id: uuid.UUID
    """The session's room (the waste leaves its holding, a place of the session's own)."""
    quantity: Decimal
    occurred_at: datetime
    performed_by: str | None
    witness_ids: tuple[str, ...]
    confirmed_by: tuple[str, ...]
    recorded_at: datetime
    first_withdrawal_at: datetime
    patient_id: uuid.UUID | None = None
    lot_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class MonitoringForm:
    session_id: uuid.UUID
    ended_at: datetime
    due_on: date
    submitted_on: date | None
    staff_ids: tuple[str, ...]
    patient_id: uuid.UUID | None = None
    room_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class ExpiredStock:
    location_id: uuid.UUID
    lot_id: uuid.UUID
    product_id: uuid.UUID
    lot_number: str
    expires_on: date
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class OpenReport:
    """A theft or significant loss not yet reported, with the DEA's due dates, and what its
    discrepancy says and is about."""

    discrepancy_id: uuid.UUID
    notice_due_on: date
    notice_given: bool
    form_106_due_on: date
    staff_ids: tuple[str, ...]
    summary: str = ""
    discovered_at: datetime | None = None
    subject: Subject = NO_SUBJECT
    event_ids: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """A line of a supplier's invoice the run judges, with the invoice it is on."""

    invoice_id: uuid.UUID
    supplier_dea_number: str
    invoice_number: str
    invoice_date: date
    line_id: uuid.UUID
    line_number: int
    ndc: str
    lot_number: str
    quantity: Decimal
    product_id: uuid.UUID | None = None
    """The registrant's product of that NDC, if the catalog has it (for its unit)."""


@dataclass(frozen=True, slots=True)
class InvoiceReceipt:
    """A receipt naming a supplier's invoice (its DEA number and the invoice's number), not
    reversed."""

    event_id: uuid.UUID
    supplier_dea_number: str
    invoice_number: str
    ndc: str | None
    """The NDC of the lot's product (None for a compound, which no invoice line names)."""
    lot_number: str
    lot_id: uuid.UUID
    product_id: uuid.UUID
    location_id: uuid.UUID
    quantity: Decimal
    occurred_at: datetime
    performed_by: str | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What a run found for one registrant and period."""

    today: date
    """The registrant's day when the run ran."""
    first_activity_on: date | None
    last_full_inventory_on: date | None
    counts: Sequence[Count] = ()
    adjustments: Sequence[Adjustment] = ()
    session_ends: Sequence[SessionEnd] = ()
    waste: Sequence[Waste] = ()
    monitoring_forms: Sequence[MonitoringForm] = ()
    expired_stock: Sequence[ExpiredStock] = ()
    peer_stats: Sequence[PeerStat] = ()
    open_reports: Sequence[OpenReport] = ()
    invoice_lines: Sequence[InvoiceLine] = ()
    invoice_receipts: Sequence[InvoiceReceipt] = ()
    invoicing_suppliers: frozenset[str] = frozenset()
    """The DEA numbers of the suppliers whose invoices the registrant sends: a receipt naming
    an invoice of one of them that was never sent is flagged; one of another supplier is not
    (the registrant does not send its invoices)."""
    words: Words = field(default_factory=Words)
    """The names of what the facts mention, and the registrant's clock, to phrase the
    findings with."""
