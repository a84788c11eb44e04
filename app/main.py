"""The application factory."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.audit.owners import PathOwners
from app.auth.tokens import TokenVerifier
from app.catalog.models import Lot, Product
from app.catalog.router import router as catalog_router
from app.clinical.models import Evaluation, TreatmentPlan
from app.clinical.router import router as clinical_router
from app.clinical.sessions.models import SessionAuthorization, TreatmentSession
from app.clinical.sessions.router import router as sessions_router
from app.console.routers import ASSETS, CONSOLE_ROUTERS
from app.core.clock import Clock, SystemClock
from app.core.config import Settings, get_settings
from app.core.db import Database, create_engine, table_of
from app.core.jobs import Job
from app.core.logging import configure_logging
from app.core.metrics import Metrics
from app.edge.audit import AuditMiddleware
from app.edge.middleware import BodyLimitMiddleware, RequestContextMiddleware
from app.edge.openapi import add_schemas, install_openapi, operation_id
from app.edge.problems import install_error_handlers, use_problem_format
from app.integrations.fhir import outcome as fhir_outcome
from app.integrations.fhir.documented import RESOURCE_SCHEMAS as FHIR_RESOURCES
from app.integrations.fhir.models import FhirCodeMapping, FhirResource, FhirSender
from app.integrations.fhir.records_router import router as fhir_records_router
from app.integrations.fhir.router import router as fhir_router
from app.integrations.fhir.senders import integration_scopes
from app.integrations.fhir.senders_router import router as fhir_senders_router
from app.integrations.webhooks.models import WebhookDelivery, WebhookEndpoint
from app.integrations.webhooks.router import document_deliveries
from app.integrations.webhooks.router import router as webhooks_router
from app.ledger.group_commit import LedgerWriter
from app.ledger.inventories.models import Inventory
from app.ledger.inventories.router import router as inventories_router
from app.ledger.invoices.models import SupplierInvoice
from app.ledger.invoices.router import router as invoices_router
from app.ledger.models import LedgerEvent
from app.ledger.router import public_router as ledger_public_router
from app.ledger.router import router as ledger_router
from app.ops.docs import router as docs_router
from app.ops.router import router as ops_router
from app.pharmacy.models import CompoundingBatch
from app.pharmacy.prescriptions.models import Prescription
from app.pharmacy.prescriptions.router import router as prescriptions_router
from app.pharmacy.router import router as pharmacy_router
from app.reconciliation.models import Discrepancy
from app.reconciliation.router import router as reconciliation_router
from app.registry.models import Location, Patient, Staff, StaffRegistration
from app.registry.router import router as registry_router
from app.reports.forms_router import router as forms_router
from app.reports.pdmp.models import PdmpSubmission
from app.reports.pdmp.router import router as pdmp_router
from app.reports.router import router as reports_router
from app.worker import Worker

API_VERSION = "0.1.0"

PATH_OWNERS: PathOwners = {
    name: table_of(model)
    for name, model in {
        "authorization_id": SessionAuthorization,
        "batch_id": CompoundingBatch, "delivery_id": WebhookDelivery,
        "discrepancy_id": Discrepancy, "endpoint_id": WebhookEndpoint,
        "evaluation_id": Evaluation, "event_id": LedgerEvent, "inventory_id": Inventory,
        "invoice_id": SupplierInvoice,
        "location_id": Location,
        "lot_id": Lot, "mapping_id": FhirCodeMapping, "patient_id": Patient,
        "plan_id": TreatmentPlan, "prescription_id": Prescription, "product_id": Product,
        "registration_id": StaffRegistration, "resource_id": FhirResource, "run_id": Job,
        "sender_id": FhirSender, "session_id": TreatmentSession, "staff_id": Staff,
        "submission_id": PdmpSubmission, "verification_id": Job,
    }.items()
}  # fmt: skip
"""Which table each path parameter names: a refused request is audited at its owner
(:mod:`app.audit.owners`). A test holds it to every path parameter of the API."""


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or get_settings()
    database = Database(create_engine(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _in_process_worker(app):
            yield
        await database.dispose()

    app = FastAPI(
        title="csledger",
        version=API_VERSION,
        summary="Schedule III controlled-substance compliance ledger.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # served by app.ops.docs, from the service's own assets
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.clock = clock or SystemClock()
    app.state.token_verifier = TokenVerifier(settings)
    app.state.metrics = Metrics()
    app.state.ledger_writer = (
        LedgerWriter(app.state.metrics.registry) if database.is_postgresql else None
    )
    app.state.path_owners = PATH_OWNERS
    app.state.integration_scopes = integration_scopes

    # Requests are matched against routes in order: the ledger's, the busiest (every system's
    # appends), come first, which saves about 0.1 ms per append here. No two routers share a path.
    routers = (ledger_router, ledger_public_router, registry_router, catalog_router,
               clinical_router, sessions_router, pharmacy_router, prescriptions_router,
               reconciliation_router, reports_router, forms_router, pdmp_router,
               webhooks_router, fhir_router, fhir_senders_router, fhir_records_router,
               inventories_router, invoices_router, ops_router, docs_router)  # fmt: skip
    for router in (*routers, *CONSOLE_ROUTERS):
        app.include_router(router)
    app.mount("/console/static", StaticFiles(directory=ASSETS, html=True), name="console-assets")

    document_deliveries(app)
    install_error_handlers(app)
    use_problem_format(app, fhir_outcome.PROBLEM_FORMAT)
    add_schemas(app, FHIR_RESOURCES)
    # Added innermost first: the request id wraps the audit, which wraps the body limit.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AuditMiddleware)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    install_openapi(app)
    return app


@asynccontextmanager
async def _in_process_worker(app: FastAPI) -> AsyncIterator[None]:
    """With ``worker_in_process``, run the worker beside the API (``make run`` does)."""
    settings: Settings = app.state.settings
    if not settings.worker_in_process:
        yield
        return
    stop = asyncio.Event()
    worker = Worker(app.state.database, settings, app.state.clock)
    task = asyncio.create_task(worker.run(stop), name="csledger-worker")
    try:
        yield
    finally:
        stop.set()
        await task


def create_app_from_environment() -> FastAPI:
    """Entry point for ``uvicorn --factory``."""
    settings = get_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
