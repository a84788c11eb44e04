"""Prescriptions a pharmacy receives, and their fills (dispenses through the ledger)."""
