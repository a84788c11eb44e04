"""The perpetual inventory's columns, in the order every format prints them."""

from app.reports.tabular import Column

COLUMNS: list[Column] = [
    Column("location_id", "Location id", printed=False),
    Column("location", "Location"),
    Column("lot_id", "Lot id", printed=False),
    Column("lot_number", "Lot"),
    Column("expires_on", "Expires"),
    Column("product", "Product"),
    Column("ndc", "NDC", "NDC, or the compound code of a compounded product"),
    Column("strength", "Strength"),
    Column("unit", "Unit", "the unit of every quantity of the row"),
    Column("entry", "Entry", "opening balance, the event's type (a movement or a count), or "
           "closing balance"),
    Column("event_id", "Event", printed=False),
    Column("sequence", "Sequence", "the event's place in the registrant's chain"),
    Column("occurred_at", "When", "when it happened; a balance's: when the period starts or "
           "ends"),
    Column("performed_by", "Staff id", "who performed it", printed=False),
    Column("performer", "By"),
    Column("performer_credential", "Credential", "their role, and state license"),
    Column("witnesses", "Witnesses"),
    Column("patient_id", "Patient id", printed=False),
    Column("patient", "Patient", "the patient's name and record number (the record number "
           "alone for a caller who may not read patients)"),
    Column("prescription_id", "Prescription id", printed=False),
    Column("rx_number", "Rx number"),
    Column("session_id", "Session id", printed=False),
    Column("room", "Room", "a session's: the room it was in"),
    Column("session", "Session", "a session's: when it was scheduled"),
    Column("counterparty", "Supplier or receiver"),
    Column("document_reference", "Document", "an invoice, a DEA Form 222, a receipt"),
    Column("quantity_in", "In"),
    Column("quantity_out", "Out"),
    Column("balance", "Balance", "the ledger's balance after the row (at a count: where the "
           "count was taken)"),
    Column("counted", "Counted", "a count's quantity"),
    Column("variance", "Variance", "counted less the ledger's balance"),
    Column("reversed_by", "Reversed by", "the reversal that undid it, if one did",
           printed=False),
]  # fmt: skip
