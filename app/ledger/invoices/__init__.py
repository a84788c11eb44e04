"""Suppliers' invoices: kept as sent, to be matched against the receipts that name them
(docs/domain.md#supplier-invoices)."""
