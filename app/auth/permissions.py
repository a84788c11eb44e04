"""Roles and what each may do: the one table of permissions (DESIGN.md).

Separation of duties (nobody reverses, adjusts or resolves their own work) is enforced where
the work is known, in the services that do it; this table only says which roles may try.
"""

from enum import StrEnum


class Role(StrEnum):
    pharmacist = "pharmacist"
    clinician = "clinician"
    prescriber = "prescriber"
    compliance_officer = "compliance_officer"
    integration = "integration"
    admin = "admin"


class Permission(StrEnum):
    read_reference = "read_reference"
    """Read registrants, locations, staff, products and lots of one's own registrants."""
    manage_registrants = "manage_registrants"
    manage_webhooks = "manage_webhooks"
    manage_locations_staff = "manage_locations_staff"
    patients = "patients"
    inventory = "inventory"
    """Products, lots, receipts, moves, transfers, counts."""
    sessions = "sessions"
    clinical_plans = "clinical_plans"
    pharmacy = "pharmacy"
    read_prescriptions = "read_prescriptions"
    """Read prescriptions and their fills: the pharmacy's own, or those a pharmacy linked to
    one's registrant as their issuer."""
    destroy_loss_theft = "destroy_loss_theft"
    adjust_reverse_resolve = "adjust_reverse_resolve"
    reports = "reports"
    fhir_records = "fhir_records"
    """Send FHIR MedicationAdministration and MedicationDispense records, and read them back."""
    manage_fhir_senders = "manage_fhir_senders"
    """Enable an integration as a FHIR sender at a registrant, with its location."""
    platform_audit = "platform_audit"
    """Read the audit trail of requests that touched no registrant (a platform admin's)."""


_ALL_ROLES = frozenset(Role)
_P, _C, _PR, _CO, _I, _A = (
    Role.pharmacist,
    Role.clinician,
    Role.prescriber,
    Role.compliance_officer,
    Role.integration,
    Role.admin,
)

GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.read_reference: _ALL_ROLES,
    Permission.manage_registrants: frozenset({_A}),
    Permission.manage_webhooks: frozenset({_A}),
    Permission.manage_locations_staff: frozenset({_CO, _A}),
    Permission.patients: frozenset({_P, _C, _PR, _I}),
    Permission.inventory: frozenset({_P, _C, _I}),
    Permission.sessions: frozenset({_C, _PR, _I}),
    Permission.clinical_plans: frozenset({_PR}),
    Permission.pharmacy: frozenset({_P, _I}),
    Permission.read_prescriptions: frozenset({_P, _PR, _CO, _I}),
    Permission.destroy_loss_theft: frozenset({_P, _C, _CO}),
    Permission.adjust_reverse_resolve: frozenset({_CO}),
    Permission.reports: frozenset({_CO, _A}),
    Permission.fhir_records: frozenset({_I}),
    Permission.manage_fhir_senders: frozenset({_A}),
    Permission.platform_audit: frozenset({_A}),
}


def allows(roles: frozenset[Role], permission: Permission) -> bool:
    return not roles.isdisjoint(GRANTS[permission])
