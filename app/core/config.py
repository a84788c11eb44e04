"""Settings, read once from the environment (prefix ``CSLEDGER_``).

Every setting and its default is listed in README.md; keep the two in step.
"""

from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "csledger-development-secret-not-for-production"  # noqa: S105
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/csledger.db"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CSLEDGER_", extra="ignore", frozen=True)

    environment: Environment = Environment.development
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: int = Field(default=10, ge=1)
    database_runtime_role: str | None = None
    """PostgreSQL role the service runs as; ``csledger migrate`` (run as the owner) grants it
    only what the service needs."""
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)

    jwt_algorithm: str = "HS256"
    jwt_secret: str = DEVELOPMENT_SECRET
    jwt_public_key_file: Path | None = None
    jwt_issuer: str = "csledger"
    jwt_audience: str = "csledger"
    jwt_max_bytes: int = Field(default=8192, ge=256)
    jwt_leeway_seconds: int = Field(default=30, ge=0)

    log_level: str = "INFO"
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)

    idempotency_ttl_hours: int = Field(default=72, ge=1)
    late_entry_window_hours: int = Field(default=24, ge=0)
    """A movement reported longer than this after it occurred is a record, not an instruction."""
    future_skew_seconds: int = Field(default=300, ge=0)
    """How far in the future occurred_at may lie (clock skew between systems)."""
    compounding_yield_tolerance_percent: Decimal = Field(default=Decimal(2), ge=0, le=50)
    """How far a compounding batch's mg out may differ from its mg in, both as base."""
    iv_dose_tolerance_percent: Decimal = Field(default=Decimal(10), ge=0, le=100)
    """How far above the plan's dose (mg/kg x the day's weight) an IV session may go."""
    esketamine_max_predose_systolic: int = Field(default=140, ge=60, le=250)
    esketamine_max_predose_diastolic: int = Field(default=90, ge=30, le=150)
    """Blood pressure before the first esketamine device above which a prescriber decides."""
    esketamine_monitoring_minutes: int = Field(default=120, ge=0)
    """How long after the first esketamine device a patient is monitored before discharge."""
    telemedicine_flexibility_ends_on: date = date(2026, 12, 31)
    """The last day a telehealth prescription without an in-person evaluation is accepted
    (the temporary rule at 21 CFR 1307.41)."""
    early_refill_share_percent: int = Field(default=75, ge=0, le=100)
    """A refill before this share of the previous fill's days supply has passed is early."""
    count_variance_significant_percent: Decimal = Field(default=Decimal(5), ge=0, le=100)
    """A count short of the expected balance by this share of the 30 days' usage there (or
    more) is a significant discrepancy; less is minor."""
    count_pattern_shortfalls: int = Field(default=3, ge=2)
    count_pattern_window_days: int = Field(default=30, ge=1)
    """This many short counts of one product at one location within the window make each
    significant: a continuing pattern of small losses is significant."""
    session_expected_minutes: int = Field(default=120, ge=1, le=24 * 60)
    """How long a session not yet ended is taken to last from its start (or scheduled time),
    when telling whether two sessions of one patient overlap (esketamine's monitoring alone
    is two hours)."""
    session_authorization_minutes: int = Field(default=60, ge=1, le=24 * 60)
    """How long a prescriber's authorization of a session step's override stays usable by the
    clinician it names (docs/domain.md#override-authorization)."""
    waste_window_minutes: int = Field(default=60, ge=0)
    """Waste recorded later than this after the session's first withdrawal is flagged."""
    fhir_withdrawal_window_hours: int = Field(default=12, ge=0)
    """A FHIR administration outside a session is flagged unless stock of its lot was moved
    into the sender's location within this many hours before it (a withdrawal)."""
    peer_window_days: int = Field(default=30, ge=1)
    peer_outlier_z: Decimal = Field(default=Decimal("3.5"), gt=0)
    """Staff whose waste, withdrawals or discrepancies per session lie beyond this robust
    z-score among their peers (the same role, product and plan dose, over the window), and
    beyond the measure's floors below, are flagged for review."""
    peer_min_sessions: int = Field(default=3, ge=1)
    """Sessions in the window a member of staff needs to be compared, or to be a peer: one odd
    session (a patient who left early, a dropped vial) is not a pattern."""
    peer_min_peers: int = Field(default=4, ge=2)
    """Others, each with enough sessions, a member of staff needs to be compared with."""
    peer_waste_min_difference_mg: Decimal = Field(default=Decimal(5), ge=0)
    peer_waste_min_difference_percent: Decimal = Field(default=Decimal(10), ge=0)
    """Waste per session this far above the peer median, in mg and as a share of it (both),
    matters; less is rounding or the patients' weights, whatever the z-score."""
    peer_waste_mad_floor_mg: Decimal = Field(default=Decimal(1), gt=0)
    """The spread of the peers' waste per session is never taken below this."""
    peer_withdrawn_min_difference_mg: Decimal = Field(default=Decimal(5), ge=0)
    peer_withdrawn_min_difference_percent: Decimal = Field(default=Decimal(10), ge=0)
    peer_withdrawn_mad_floor_mg: Decimal = Field(default=Decimal(1), gt=0)
    """The same for withdrawals per session."""
    peer_discrepancies_min_difference: Decimal = Field(default=Decimal("0.1"), ge=0)
    peer_discrepancies_min_difference_percent: Decimal = Field(default=Decimal(50), ge=0)
    peer_discrepancies_mad_floor: Decimal = Field(default=Decimal("0.02"), gt=0)
    """The same for discrepancies per session (0.1: one more in ten sessions)."""
    invoice_receipt_grace_days: int = Field(default=3, ge=0)
    """A supplier's invoice not received this many days after its date is flagged
    (``invoiced_not_received``), as is a receipt naming an invoice of a supplier whose
    invoices are sent that was not sent within as many days (``received_not_invoiced``)."""
    inventory_warning_days: int = Field(default=30, ge=0)
    """A biennial inventory due within this many days is flagged ahead."""
    pdmp_asap_version: str = "4.2A"
    """The state PDMP's profile: TH01's version, the segment terminator (TH09), DSP07 for a
    compound, the shape of a zero report and the file type (P production, T test)."""
    pdmp_segment_terminator: str = Field(default="~", min_length=1, max_length=1)
    pdmp_compound_qualifier: str = "06"
    pdmp_zero_report: Literal["pat_dsp_pre", "pat_dsp_pre_cdi_air", "pat_dsp", "header_only"] = (
        "pat_dsp_pre"
    )
    """The zero report's shape, named by its segments between PHA and TP (the values of
    ``app.reports.pdmp.asap.ZeroReport``, which says what each holds)."""
    pdmp_file_type: Literal["P", "T"] = "P"
    report_pdf_max_rows: int = Field(default=5000, ge=1)
    """Longer reports are refused as PDF (made whole in memory) and pointed to CSV."""
    inventory_exact_count_states: list[str] = Field(default_factory=list)
    """States (two letters) whose rules require an exact count of every schedule in an
    inventory; elsewhere Schedules III to V may be estimated (21 CFR 1304.11(e)(3))."""
    inventory_witness_required: bool = False
    """Every inventory is co-signed by a witness before whoever took it signs; one whose
    counts differ from the ledger is, whatever this says."""
    vitals_alert_systolic_above: int = Field(default=180, ge=60, le=300)
    vitals_alert_diastolic_above: int = Field(default=110, ge=30, le=200)
    vitals_alert_heart_rate_above: int = Field(default=120, ge=30, le=250)
    vitals_alert_heart_rate_below: int = Field(default=50, ge=20, le=200)
    vitals_alert_spo2_below: int = Field(default=92, ge=50, le=100)
    """Clinic thresholds: a reading beyond one is kept with an alert naming it."""
    checkpoint_key_file: Path | None = None
    """PEM of the EC P-256 key that signs checkpoints (kept outside the database)."""
    checkpoint_key_id: str | None = None
    """``kid`` of that key; by default its RFC 7638 thumbprint."""
    checkpoint_retired_jwks_file: Path | None = None
    """A JWKS of public keys that signed earlier checkpoints, still served after rotation."""
    checkpoint_interval_minutes: int = Field(default=15, ge=1)
    development_key_dir: Path = Path("var/keys")
    """Where a development checkpoint key is made when none is configured (never production)."""

    console_session_hours: float = Field(default=12, gt=0, le=24)
    """How long a console sign-in lasts, however busy (a shift), before signing in again."""
    console_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    """A console session unused this long ends: a tablet left at a nurse's station."""
    console_sign_in_link_minutes: int = Field(default=15, ge=1, le=24 * 60)
    """How long a development sign-in link (printed by ``make run``) may be used, once."""
    public_url: str | None = None
    """The console's address as browsers reach it (``https://ledger.example.org``), for the
    identity provider's redirect; by default the address the request came to."""
    oidc_issuer: str | None = None
    """The identity provider's issuer: its ``/.well-known/openid-configuration`` is read."""
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid profile email"
    oidc_roles_claim: str = "roles"
    oidc_registrants_claim: str = "registrants"
    """The ID token's claims holding the roles and registrants, as an API token's do."""

    worker_in_process: bool = False
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    job_lease_seconds: int = Field(default=60, ge=5)
    outbox_max_attempts: int = Field(default=5, ge=1)
    """Failed dispatches of one outbox message before it is set aside (with its error), so
    the messages after it are not held back."""

    webhook_allow_private_networks: bool | None = None
    """Whether endpoints may be http and on loopback or private networks; by default only in
    development and test (never advisable in production: it opens the door to SSRF)."""
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_retry_schedule_seconds: tuple[int, ...] = Field(
        default=(5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 72000), min_length=1
    )
    """Waits after each failed attempt (here: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h,
    20 h: about three days); each is spread by the jitter. After the last, the delivery fails."""
    webhook_retry_jitter: float = Field(default=0.2, ge=0, lt=1)
    """Each wait is drawn from (1 - jitter, 1 + jitter) times its step, so the retries of
    many deliveries after an outage do not arrive at once."""
    webhook_disable_after_failures: int = Field(default=20, ge=1)
    webhook_disable_after_hours: float = Field(default=24.0, ge=0)
    """An endpoint is disabled when both hold: that many attempts in a row failed, and the
    first of them is that old (a short outage under heavy traffic does not disable it)."""
    webhook_secret_overlap_hours: float = Field(default=24.0, ge=0, le=24 * 30)
    """After a rotation, how long the previous secret still signs deliveries too."""
    webhook_delivery_batch: int = Field(default=25, ge=1, le=1000)
    webhook_delivery_lanes: int = Field(default=4, ge=1, le=64)
    """A worker sends up to ``lanes`` batches at once, so one slow endpoint holds back one
    lane, not the worker."""

    @property
    def webhooks_may_reach_private_networks(self) -> bool:
        if self.webhook_allow_private_networks is not None:
            return self.webhook_allow_private_networks
        return not self.is_production

    @property
    def oidc_configured(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.production

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if not self.is_production:
            return self
        if self.is_sqlite:
            raise ValueError("production needs PostgreSQL: set CSLEDGER_DATABASE_URL")
        if self.jwt_algorithm.startswith("HS"):
            if self.jwt_secret == DEVELOPMENT_SECRET or len(self.jwt_secret) < 32:
                raise ValueError("production refuses the development or a short JWT secret")
        elif self.jwt_public_key_file is None:
            raise ValueError("CSLEDGER_JWT_PUBLIC_KEY_FILE is required for " + self.jwt_algorithm)
        if self.checkpoint_key_file is None:
            raise ValueError("production needs CSLEDGER_CHECKPOINT_KEY_FILE to sign checkpoints")
        if self.webhook_allow_private_networks:
            raise ValueError("production refuses webhooks to private networks (SSRF)")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
