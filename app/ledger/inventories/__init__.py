"""Inventories (21 CFR 1304.11) as a signed workflow: started at an instant, counted lot by
lot against what the ledger held then, signed by whoever took it (and a witness where
required), its counts then written through the ledger (docs/domain.md#inventory)."""
