"""Pharmacy records: compounding batches, and prescriptions and their fills
(``prescriptions``)."""
