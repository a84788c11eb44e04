"""Pharmacy records: compounding batches (prescriptions and fills come next)."""
