"""Reconciliation: what does not add up, and the people who resolve it."""
