"""Integrations: signed outbound webhooks and inbound FHIR R4 from EHRs."""
