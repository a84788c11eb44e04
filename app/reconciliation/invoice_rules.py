"""Suppliers' invoices matched against the receipts that name them (pure;
docs/domain.md#supplier-invoices).

An invoice's lines and its receipts are matched by the supplier's DEA number and the invoice's
number, then by NDC and lot. What does not match is a finding: a line never received (once the
grace after the invoice's date has passed: a potential loss in transit, 21 CFR 1301.76(b)), a
receipt no invoice line names, a quantity received other than invoiced, a lot other than
invoiced, and a line received more than once.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from app.core.identifiers import format_ndc
from app.core.quantity import format_quantity
from app.reconciliation.facts import Facts, InvoiceLine, InvoiceReceipt
from app.reconciliation.findings import Finding, Found, Subject
from app.reconciliation.words import Words, days_words
from app.reconciliation.workflow import Severity

LINE_CODES = ("invoiced_not_received", "invoice_quantity_differs", "invoice_lot_differs",
              "invoice_received_twice")  # fmt: skip
"""The codes of the findings about an invoice's line."""
NEVER_INVOICED = "received_not_invoiced"
"""The code of the finding about a receipt no invoice line names."""
CODES = (LINE_CODES[0], NEVER_INVOICED, *LINE_CODES[1:])
"""The codes of the findings of :func:`invoice_matching`."""
NO_LONGER_FOUND = "a later run matched the invoice and its receipts without this mismatch"
"""Why a finding of :func:`invoice_matching` is cured (:func:`judged`)."""

Key = tuple[str, str]
"""An invoice: the supplier's DEA number and the invoice's number."""


@dataclass(frozen=True, slots=True)
class _Judged:
    """What one invoice's matching is judged with."""

    facts: Facts
    grace: timedelta


def invoice_matching(facts: Facts, grace: timedelta) -> list[Found]:
    """Every mismatch between the invoices and the receipts of the run's facts."""
    lines: dict[Key, list[InvoiceLine]] = defaultdict(list)
    receipts: dict[Key, list[InvoiceReceipt]] = defaultdict(list)
    for line in facts.invoice_lines:
        lines[(line.supplier_dea_number, line.invoice_number)].append(line)
    for receipt in facts.invoice_receipts:
        receipts[(receipt.supplier_dea_number.upper(), receipt.invoice_number)].append(receipt)
    judged = _Judged(facts, grace)
    found: list[Found] = []
    for key in sorted(lines.keys() | receipts.keys()):
        if key in lines:
            found.extend(_one_invoice(judged, lines[key], receipts.get(key, [])))
        elif key[0] in facts.invoicing_suppliers:
            found.extend(_never_invoiced(judged, receipt, invoice_sent=False)
                         for receipt in receipts[key]
                         if _past(judged, facts.words.day(receipt.occurred_at)))  # fmt: skip
    return found


def judged(facts: Facts) -> frozenset[str]:
    """The fingerprints of every finding :func:`invoice_matching` could make of the run's
    invoice lines and receipts. The run reads each invoice it judges with all its receipts, and
    each receipt with its invoice (app/reconciliation/invoice_queries.py), so one of these an
    earlier run found and this one does not no longer holds (a delivery came late, an invoice
    was sent late, a short shipment was made up): the run cures it."""
    return frozenset([
        *(_line_fingerprint(code, line.line_id) for line in facts.invoice_lines
          for code in LINE_CODES),
        *(_receipt_fingerprint(receipt.event_id) for receipt in facts.invoice_receipts),
    ])  # fmt: skip


def _line_fingerprint(code: str, line_id: object) -> str:
    return f"{code}:invoice_line:{line_id}"


def _receipt_fingerprint(event_id: object) -> str:
    return f"{NEVER_INVOICED}:event:{event_id}"


def _past(judged: _Judged, day: date) -> bool:
    """Whether the grace after ``day`` has passed on the run's day."""
    return day + judged.grace < judged.facts.today


def _one_invoice(
    judged: _Judged, lines: Sequence[InvoiceLine], receipts: Sequence[InvoiceReceipt]
) -> list[Found]:
    by_lot: dict[tuple[str | None, str], list[InvoiceReceipt]] = defaultdict(list)
    for receipt in receipts:
        by_lot[(receipt.ndc, receipt.lot_number)].append(receipt)
    found: list[Found] = []
    unreceived: list[InvoiceLine] = []
    for line in lines:
        matched = by_lot.pop((line.ndc, line.lot_number), [])
        if matched:
            found.extend(_quantities(judged, line, matched))
        else:
            unreceived.append(line)
    unmatched = sorted((r for rs in by_lot.values() for r in rs),
                       key=lambda r: (r.lot_number, r.occurred_at, r.event_id))  # fmt: skip
    for line in sorted(unreceived, key=lambda line: line.lot_number):
        other = next((r for r in unmatched if r.ndc == line.ndc), None)
        if other is not None:
            unmatched.remove(other)
            found.append(_lot_differs(judged.facts.words, line, other))
        elif _past(judged, line.invoice_date):
            found.append(_never_received(judged, line))
    found.extend(_never_invoiced(judged, receipt, invoice_sent=True) for receipt in unmatched)
    return found


def _quantities(
    judged: _Judged, line: InvoiceLine, receipts: Sequence[InvoiceReceipt]
) -> list[Found]:
    """A line received once or more: more than once beyond what was invoiced is the invoice
    received twice (a delivery split across receipts that adds up is not); otherwise the
    total received against the invoiced."""
    words = judged.facts.words
    received = sum((r.quantity for r in receipts), Decimal(0))
    if received == line.quantity:
        return []
    numbers = {"invoiced": format_quantity(line.quantity),
               "received": format_quantity(received)}  # fmt: skip
    unit_of = receipts[0].product_id
    if len(receipts) > 1 and received > line.quantity:
        code, severity = "invoice_received_twice", Severity.significant
        said = (f"received {len(receipts)} times: {words.quantity(received, unit_of)} in all "
                f"against {words.quantity(line.quantity, unit_of)} invoiced")  # fmt: skip
    else:
        code = "invoice_quantity_differs"
        severity = Severity.significant if received < line.quantity else Severity.minor
        kind = "short" if received < line.quantity else "over"
        said = (f"received {kind} by {words.quantity(abs(received - line.quantity), unit_of)} "
                f"({words.quantity(line.quantity, unit_of)} invoiced, "
                f"{words.quantity(received, unit_of)} received)")  # fmt: skip
    return [_found(code, severity, line, f"{_line_words(words, line)} {said}", numbers, receipts)]


def _lot_differs(words: Words, line: InvoiceLine, receipt: InvoiceReceipt) -> Found:
    numbers = {"invoiced": format_quantity(line.quantity),
               "received": format_quantity(receipt.quantity),
               "received_lot_number": receipt.lot_number}  # fmt: skip
    said = (f"{_line_words(words, line)} received as lot {receipt.lot_number} "
            f"({words.quantity(receipt.quantity, receipt.product_id)}) on "
            f"{words.at(receipt.occurred_at)}")  # fmt: skip
    return _found("invoice_lot_differs", Severity.minor, line, said, numbers, [receipt])


def _never_received(judged: _Judged, line: InvoiceLine) -> Found:
    days = (judged.facts.today - line.invoice_date).days
    said = (
        f"{_line_words(judged.facts.words, line)} never received "
        f"({days_words(days)} after the invoice's date): a potential loss in transit"
    )
    numbers = {"invoiced": format_quantity(line.quantity), "received": "0"}
    return _found("invoiced_not_received", Severity.significant, line, said, numbers, [])


def _never_invoiced(judged: _Judged, receipt: InvoiceReceipt, *, invoice_sent: bool) -> Found:
    words = judged.facts.words
    why = ("which lists no such NDC and lot" if invoice_sent
           else f"never sent though its supplier's invoices are, {days_words(judged.grace.days)} "
                "on")  # fmt: skip
    said = (f"Receipt of {words.quantity(receipt.quantity, receipt.product_id)} of lot "
            f"{receipt.lot_number} ({words.product(receipt.product_id)}) at "
            f"{words.location(receipt.location_id)} on {words.at(receipt.occurred_at)}, on "
            f"invoice {receipt.invoice_number} of supplier {receipt.supplier_dea_number}, "
            f"{why}")  # fmt: skip
    return Found(
        Finding(rule=NEVER_INVOICED, severity=Severity.minor,
                fingerprint=_receipt_fingerprint(receipt.event_id), summary=said,
                details={"invoice_number": receipt.invoice_number,
                         "supplier_dea_number": receipt.supplier_dea_number,
                         "invoiced": "0", "received": format_quantity(receipt.quantity)}),
        event_ids=(receipt.event_id,), staff_ids=tuple(filter(None, [receipt.performed_by])),
        subject=Subject(location_id=receipt.location_id, lot_id=receipt.lot_id,
                        product_id=receipt.product_id),
    )  # fmt: skip


def _line_words(words: Words, line: InvoiceLine) -> str:
    """An invoice line in words: "Invoice INV-1 of supplier PK1234563 dated 2026-03-02, line
    1: 20 mL of NDC 00409-2051-05 lot L-100"."""
    product = f" ({words.product(line.product_id)})" if line.product_id else ""
    return (f"Invoice {line.invoice_number} of supplier {line.supplier_dea_number} dated "
            f"{line.invoice_date.isoformat()}, line {line.line_number}: "
            f"{words.quantity(line.quantity, line.product_id)} of NDC {format_ndc(line.ndc)}"
            f"{product} lot {line.lot_number},")  # fmt: skip


def _found(
    code: str,
    severity: Severity,
    line: InvoiceLine,
    summary: str,
    numbers: dict[str, str],
    receipts: Sequence[InvoiceReceipt],
) -> Found:
    first = receipts[0] if receipts else None
    return Found(
        Finding(rule=code, severity=severity, fingerprint=_line_fingerprint(code, line.line_id),
                summary=summary,
                details={"supplier_invoice_id": str(line.invoice_id),
                         "invoice_number": line.invoice_number,
                         "supplier_dea_number": line.supplier_dea_number,
                         "line_number": line.line_number, "ndc": line.ndc,
                         "lot_number": line.lot_number, **numbers}),
        event_ids=tuple(r.event_id for r in receipts),
        staff_ids=tuple(sorted({r.performed_by for r in receipts if r.performed_by})),
        subject=Subject(location_id=first.location_id if first else None,
                        lot_id=first.lot_id if first else None,
                        product_id=first.product_id if first else line.product_id),
    )  # fmt: skip
