"""Inbound FHIR R4: MedicationAdministration and MedicationDispense from EHRs and pharmacy
systems, stored as records (docs/adr/0007-instructions-and-records.md) and mapped onto the
ledger; and the R4 form of a ledger event for outbound webhooks (outbound.py)."""
