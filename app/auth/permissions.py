"""Roles and what each may do: the one table of permissions (docs/tenancy.md#roles-and-permissions).

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
    read_patients = "read_patients"
    """List and read patients and their history."""
    patients = "patients"
    """Create and change patients."""
    inventory = "inventory"
    """Products, lots, receipts, moves, transfers, and sending suppliers' invoices."""
    read_supplier_invoices = "read_supplier_invoices"
    """Read the suppliers' invoices sent, which reconciliation matches against receipts."""
    counts = "counts"
    """Count events, and inventories: start one, count its lots, witness it, sign it, read
    it and its record."""
    read_sessions = "read_sessions"
    """List and read sessions and their history (the findings a compliance officer works
    point at them)."""
    sessions = "sessions"
    """Schedule sessions and record their steps."""
    clinical_plans = "clinical_plans"
    pharmacy = "pharmacy"
    read_prescriptions = "read_prescriptions"
    """Read prescriptions and their fills: the pharmacy's own, or those a pharmacy linked to
    one's registrant as their issuer."""
    destroy_loss_theft = "destroy_loss_theft"
    adjust_reverse_resolve = "adjust_reverse_resolve"
    reports = "reports"
    read_pdmp = "read_pdmp"
    """Preview a pharmacy's PDMP file of a day, read its submissions and the days to report."""
    pdmp_submissions = "pdmp_submissions"
    """Submit a pharmacy's PDMP file of a day, and record what the state answered."""
    fhir_records = "fhir_records"
    """Send FHIR MedicationAdministration and MedicationDispense records, and read them back."""
    manage_fhir_senders = "manage_fhir_senders"
    """Enable an integration as a FHIR sender at a registrant, with its location."""
    settle_fhir_records = "settle_fhir_records"
    """Follow the FHIR records integrations sent, and make those kept unposted post: assign
    a record's lot, map a sender's own medication code to a product."""
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
    Permission.read_patients: frozenset({_P, _C, _PR, _I}),
    Permission.patients: frozenset({_P, _C, _PR, _I}),
    Permission.inventory: frozenset({_P, _C, _I}),
    Permission.read_supplier_invoices: frozenset({_P, _C, _CO, _I}),
    Permission.counts: frozenset({_P, _C, _CO, _I}),
    Permission.read_sessions: frozenset({_C, _PR, _CO, _I}),
    Permission.sessions: frozenset({_C, _PR, _I}),
    Permission.clinical_plans: frozenset({_PR}),
    Permission.pharmacy: frozenset({_P, _I}),
    Permission.read_prescriptions: frozenset({_P, _PR, _CO, _I}),
    Permission.destroy_loss_theft: frozenset({_P, _C, _CO}),
    Permission.adjust_reverse_resolve: frozenset({_CO}),
    Permission.reports: frozenset({_CO, _A}),
    Permission.read_pdmp: frozenset({_P, _CO, _A}),
    Permission.pdmp_submissions: frozenset({_P, _CO}),
    Permission.fhir_records: frozenset({_I}),
    Permission.manage_fhir_senders: frozenset({_A}),
    Permission.settle_fhir_records: frozenset({_CO}),
    Permission.platform_audit: frozenset({_A}),
}


def allows(roles: frozenset[Role], permission: Permission) -> bool:
    return not roles.isdisjoint(GRANTS[permission])


class IntegrationScope(StrEnum):
    """What one integration may do at one registrant, beyond what its role allows anybody:
    granted by an admin with its configuration (``/v1/integrations/fhir-senders``)."""

    send_administrations = "send_administrations"
    send_dispenses = "send_dispenses"
    read_own_records = "read_own_records"
    read_patients = "read_patients"
    write_patients = "write_patients"
    ledger = "ledger"
    sessions = "sessions"
    pharmacy = "pharmacy"


SCOPE_MEANS: dict[IntegrationScope, str] = {
    IntegrationScope.send_administrations: "send FHIR MedicationAdministration records (and "
    "the session steps and administrations they map to)",
    IntegrationScope.send_dispenses: "send FHIR MedicationDispense records (and the fills they "
    "map to)",
    IntegrationScope.read_own_records: "read back the FHIR resources it sent itself",
    IntegrationScope.read_patients: "list and read patients (names, birth dates, addresses) "
    "and their history; matching a patient by identifier inside a FHIR record needs no scope",
    IntegrationScope.write_patients: "create and change patients",
    IntegrationScope.ledger: "products, lots, receipts, moves, transfers and counts over REST",
    IntegrationScope.sessions: "session steps over REST",
    IntegrationScope.pharmacy: "prescriptions, fills and compounding batches over REST, and "
    "reading them",
}
"""What each scope grants, as the OpenAPI document says it."""

LEAST_SCOPES = (IntegrationScope.send_administrations, IntegrationScope.send_dispenses)
"""What an integration is configured with when nothing more is asked: sending its records."""

SCOPE_OF: dict[Permission, IntegrationScope] = {
    Permission.read_patients: IntegrationScope.read_patients,
    Permission.patients: IntegrationScope.write_patients,
    Permission.inventory: IntegrationScope.ledger,
    Permission.counts: IntegrationScope.ledger,
    Permission.read_supplier_invoices: IntegrationScope.ledger,
    Permission.read_sessions: IntegrationScope.sessions,
    Permission.sessions: IntegrationScope.sessions,
    Permission.pharmacy: IntegrationScope.pharmacy,
    Permission.read_prescriptions: IntegrationScope.pharmacy,
}
"""The scope an integration needs, at the registrant it acts at, for a permission its role
grants. A permission not listed needs no scope (reading reference data; FHIR records, whose
scopes are per resource type)."""

WORKFLOW_IMPLIES: dict[IntegrationScope, frozenset[IntegrationScope]] = {
    IntegrationScope.send_administrations: frozenset(
        {IntegrationScope.sessions, IntegrationScope.ledger}
    ),
    IntegrationScope.send_dispenses: frozenset({IntegrationScope.pharmacy}),
    IntegrationScope.sessions: frozenset({IntegrationScope.ledger}),
}
"""What a workflow does in an integration's name beyond its own scope, granted for that
workflow alone: a FHIR administration's session step or administration from its location, a
FHIR dispense's fill, a session step's move of stock into or out of its holding."""
