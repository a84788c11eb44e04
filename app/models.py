"""Every table, imported once so Alembic and the tests see the whole schema."""

from app.audit.models import AuditEntry
from app.catalog.models import Lot, Product, ProductIngredient
from app.clinical.models import Evaluation, TreatmentPlan
from app.clinical.sessions.models import SessionAdministration, SessionVitals, TreatmentSession
from app.console.models import ConsoleSession, ConsoleSignIn
from app.core.db import Base
from app.core.idempotency import IdempotencyRecord
from app.core.jobs import Job
from app.core.outbox import OutboxMessage
from app.core.revisions import Revision
from app.integrations.fhir.models import FhirCodeMapping, FhirResource, FhirSender
from app.integrations.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.ledger.checkpoints import Checkpoint
from app.ledger.inventories.models import Inventory, InventoryEntry
from app.ledger.invoices.models import SupplierInvoice, SupplierInvoiceLine
from app.ledger.merkle_store import MerkleNode
from app.ledger.models import Balance, ChainHead, LedgerEvent, Posting, WitnessConfirmation
from app.pharmacy.models import CompoundingBatch, CompoundingIngredient
from app.pharmacy.prescriptions.models import Prescription, PrescriptionFill
from app.reconciliation.models import (
    Discrepancy,
    DiscrepancyAssignment,
    DiscrepancyNote,
    DiscrepancyTransition,
)
from app.registry.models import Location, Patient, Registrant, Staff, StaffRegistration
from app.reports.pdmp.models import PdmpResponse, PdmpSubmission

metadata = Base.metadata

__all__ = [
    "AuditEntry",
    "Balance",
    "ChainHead",
    "Checkpoint",
    "CompoundingBatch",
    "CompoundingIngredient",
    "ConsoleSession",
    "ConsoleSignIn",
    "Discrepancy",
    "DiscrepancyAssignment",
    "DiscrepancyNote",
    "DiscrepancyTransition",
    "Evaluation",
    "FhirCodeMapping",
    "FhirResource",
    "FhirSender",
    "IdempotencyRecord",
    "Inventory",
    "InventoryEntry",
    "Job",
    "LedgerEvent",
    "Location",
    "Lot",
    "MerkleNode",
    "OutboxMessage",
    "Patient",
    "PdmpResponse",
    "PdmpSubmission",
    "Posting",
    "Prescription",
    "PrescriptionFill",
    "Product",
    "ProductIngredient",
    "Registrant",
    "Revision",
    "SessionAdministration",
    "SessionVitals",
    "Staff",
    "StaffRegistration",
    "SupplierInvoice",
    "SupplierInvoiceLine",
    "TreatmentPlan",
    "TreatmentSession",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WitnessConfirmation",
    "metadata",
]
