"""Suppliers' invoices matched against receipts, as a pure rule over facts: each mismatch with
facts that make it and facts that do not, the grace at its boundary, and (Hypothesis) what
holds of any invoice and any receipts."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from app.reconciliation import rules
from app.reconciliation.facts import InvoiceLine, InvoiceReceipt
from app.reconciliation.invoice_rules import CODES, invoice_matching, judged
from app.reconciliation.workflow import Severity
from tests.reconciliation.test_rules import KETAMINE, LOT, SETTINGS, TODAY, VAULT, facts

DEA = "PK1234563"
NDC = "00409205105"
INVOICE = uuid.UUID(int=901)
DATED = TODAY - timedelta(days=4)
"""An invoice dated four days before the run's day: past the default grace of three."""
GRACE = SETTINGS.invoice_grace


def line(lot: str = "L-100", quantity: str = "20", number: int = 1, **given: object) -> InvoiceLine:
    fields: dict[str, object] = {
        "invoice_id": INVOICE, "supplier_dea_number": DEA, "invoice_number": "INV-1",
        "invoice_date": DATED, "line_id": uuid.UUID(int=1000 + number), "line_number": number,
        "ndc": NDC, "lot_number": lot, "quantity": Decimal(quantity), "product_id": KETAMINE,
    }  # fmt: skip
    return InvoiceLine(**(fields | given))  # type: ignore[arg-type]


def receipt(lot: str = "L-100", quantity: str = "20", number: int = 1,
            **given: object) -> InvoiceReceipt:  # fmt: skip
    fields: dict[str, object] = {
        "event_id": uuid.UUID(int=2000 + number), "supplier_dea_number": DEA,
        "invoice_number": "INV-1", "ndc": NDC, "lot_number": lot, "lot_id": LOT,
        "product_id": KETAMINE, "location_id": VAULT, "quantity": Decimal(quantity),
        "occurred_at": datetime(2026, 2, 26, 18, 0, tzinfo=UTC),
    }  # fmt: skip
    return InvoiceReceipt(**(fields | given))  # type: ignore[arg-type]


def found(lines=(), receipts=(), suppliers=frozenset({DEA})):
    return rules.invoice_matching(
        facts(invoice_lines=list(lines), invoice_receipts=list(receipts),
              invoicing_suppliers=suppliers), SETTINGS)  # fmt: skip


def codes(findings) -> list[tuple[str, Severity, str, str]]:
    return [(f.finding.rule, f.finding.severity, f.finding.details.get("invoiced"),
             f.finding.details.get("received")) for f in findings]  # fmt: skip


def test_a_line_received_as_invoiced_raises_nothing():
    assert found([line()], [receipt()]) == []


def test_a_line_never_received_is_flagged_once_its_grace_has_passed():
    [missing] = found([line()])
    assert codes([missing]) == [("invoiced_not_received", Severity.significant, "20", "0")]
    assert missing.finding.fingerprint == f"invoiced_not_received:invoice_line:{line().line_id}"
    assert missing.finding.summary == (
        "Invoice INV-1 of supplier PK1234563 dated 2026-02-26, line 1: 20 mL of NDC "
        "00409-2051-05 (Ketamine HCl) lot L-100, never received (4 days after the invoice's "
        "date): a potential loss in transit"
    )
    assert missing.finding.details["supplier_invoice_id"] == str(INVOICE)
    assert missing.event_ids == ()
    # On the last day of the grace, not yet.
    assert found([line(invoice_date=TODAY - GRACE)]) == []


def test_a_quantity_received_other_than_invoiced():
    [short] = found([line(quantity="20")], [receipt(quantity="15")])
    assert codes([short]) == [("invoice_quantity_differs", Severity.significant, "20", "15")]
    assert "received short by 5 mL (20 mL invoiced, 15 mL received)" in short.finding.summary
    assert short.event_ids == (receipt().event_id,)
    [over] = found([line(quantity="20")], [receipt(quantity="25")])
    assert codes([over]) == [("invoice_quantity_differs", Severity.minor, "20", "25")]


def test_a_line_received_twice_and_a_split_delivery():
    twice = found([line(quantity="10")], [receipt(quantity="10"), receipt(quantity="10", number=2)])
    assert codes(twice) == [("invoice_received_twice", Severity.significant, "10", "20")]
    assert len(twice[0].event_ids) == 2
    split = [receipt(quantity="6"), receipt(quantity="4", number=2)]
    assert found([line(quantity="10")], split) == []


def test_a_lot_received_other_than_invoiced():
    [other] = found([line(lot="L-200", quantity="10")], [receipt(lot="L-300", quantity="10")])
    assert codes([other]) == [("invoice_lot_differs", Severity.minor, "10", "10")]
    assert other.finding.details["received_lot_number"] == "L-300"
    assert "lot L-200, received as lot L-300 (10 mL)" in other.finding.summary


def test_a_receipt_no_invoice_line_names():
    on_invoice = found([line()], [receipt(), receipt(ndc="00000000001", number=2)])
    assert codes(on_invoice) == [("received_not_invoiced", Severity.minor, "0", "20")]
    assert "which lists no such NDC and lot" in on_invoice[0].finding.summary
    # An invoice never sent, of a supplier whose invoices are sent: flagged past the grace.
    never_sent = receipt(invoice_number="INV-9")
    assert codes(found([], [never_sent])) == [("received_not_invoiced", Severity.minor, "0", "20")]
    recent = receipt(invoice_number="INV-9", occurred_at=datetime(2026, 3, 1, 18, tzinfo=UTC))
    assert found([], [recent]) == []
    # A supplier whose invoices are not sent: nothing to match against.
    assert found([], [never_sent], suppliers=frozenset()) == []


def test_every_code_is_listed():
    everything = found(
        [line("L-100", "20", 1), line("L-200", "10", 2), line("L-400", "5", 3),
         line("L-500", "10", 4)],
        [receipt("L-100", "15", 1), receipt("L-300", "10", 2), receipt("L-500", "10", 3),
         receipt("L-500", "10", 4), receipt(invoice_number="INV-9", number=5)],
    )  # fmt: skip
    assert sorted(f.finding.rule for f in everything) == sorted(CODES)


lots = st.sampled_from(["L-1", "L-2", "L-3", "L-4"])
amounts = st.integers(min_value=1, max_value=50)


@given(st.dictionaries(lots, amounts, min_size=1), st.lists(st.tuples(lots, amounts), max_size=6))
def test_any_invoice_and_receipts(invoiced, received):
    lines = [line(lot, str(q), n) for n, (lot, q) in enumerate(sorted(invoiced.items()), 1)]
    receipts = [receipt(lot, str(q), n) for n, (lot, q) in enumerate(received, 1)]
    run = facts(invoice_lines=lines, invoice_receipts=receipts,
                invoicing_suppliers=frozenset({DEA}))  # fmt: skip
    findings = invoice_matching(run, GRACE)
    fingerprints = [f.finding.fingerprint for f in findings]
    assert len(fingerprints) == len(set(fingerprints))
    # A run cures what it judged and did not find: whatever it finds, it judged.
    assert set(fingerprints) <= judged(run)
    # Each line is judged once, and each receipt named by one finding at most.
    per_line = [f.finding.details.get("line_number") for f in findings]
    assert len([n for n in per_line if n is not None]) <= len(lines)
    events = [e for f in findings for e in f.event_ids]
    assert len(events) == len(set(events))
    # Received exactly as invoiced, line by line: nothing; otherwise something.
    totals: dict[str, int] = {}
    for lot, q in received:
        totals[lot] = totals.get(lot, 0) + q
    assert (findings == []) == (totals == invoiced)
