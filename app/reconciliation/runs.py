"""A reconciliation run: one registrant, one period of its own days. The queries gather the
facts, the pure rules judge them, and each finding opens or updates its discrepancy, so a
period run again (by hand, by the nightly schedule, or after a crash) duplicates nothing.

Runs are jobs (app/core/jobs.py): claimed with SKIP LOCKED and a lease on PostgreSQL, taken up
again when the worker that held one died.
"""

import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.names import Within
from app.core import jobs, outbox
from app.core.clock import Clock
from app.core.config import Settings
from app.core.jobs import ClaimedJob
from app.reconciliation import (
    invoice_queries,
    invoice_rules,
    peer_queries,
    queries,
    rules,
    session_queries,
)
from app.reconciliation.facts import (
    Adjustment,
    Count,
    ExpiredStock,
    Facts,
    InvoiceReceipt,
    MonitoringForm,
    SessionEnd,
    Waste,
)
from app.reconciliation.messages import RECONCILIATION_RUN_FINISHED
from app.reconciliation.peers import PeerFloors, PeerMeasure, PeerSettings
from app.reconciliation.service import Outcome, cure, record_finding
from app.reconciliation.words import Words
from app.registry.models import Registrant
from app.registry.service import find_registrant, local_date

JOB_KIND = "reconciliation_run"


@dataclass(frozen=True, slots=True)
class Period:
    """From the first to the last day given, inclusive, on the registrant's days."""

    first: date
    last: date

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        zone = ZoneInfo(timezone)
        start = datetime.combine(self.first, datetime.min.time(), zone)
        end = datetime.combine(self.last + timedelta(days=1), datetime.min.time(), zone)
        return start.astimezone(UTC), end.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class _Standing:
    """The findings a run leaves as they stand: those it found, and those it did not judge
    afresh (an invoice outside its period, say)."""

    found: frozenset[str]
    judged: frozenset[str]

    def __contains__(self, fingerprint: object) -> bool:
        return fingerprint in self.found or fingerprint not in self.judged


def rule_settings(settings: Settings) -> rules.Settings:
    return rules.Settings(
        significant_percent=settings.count_variance_significant_percent,
        pattern_shortfalls=settings.count_pattern_shortfalls,
        pattern_window=timedelta(days=settings.count_pattern_window_days),
        waste_window=timedelta(minutes=settings.waste_window_minutes),
        inventory_warning=timedelta(days=settings.inventory_warning_days),
        peers=peer_settings(settings),
        invoice_grace=timedelta(days=settings.invoice_receipt_grace_days),
    )


def peer_settings(settings: Settings) -> PeerSettings:
    measure = PeerMeasure
    return PeerSettings(
        outlier_z=settings.peer_outlier_z,
        min_sessions=settings.peer_min_sessions,
        min_peers=settings.peer_min_peers,
        floors={
            measure.waste: PeerFloors(settings.peer_waste_min_difference_mg,
                                            settings.peer_waste_min_difference_percent,
                                            settings.peer_waste_mad_floor_mg),
            measure.withdrawn: PeerFloors(settings.peer_withdrawn_min_difference_mg,
                                                settings.peer_withdrawn_min_difference_percent,
                                                settings.peer_withdrawn_mad_floor_mg),
            measure.discrepancies: PeerFloors(
                settings.peer_discrepancies_min_difference,
                settings.peer_discrepancies_min_difference_percent,
                settings.peer_discrepancies_mad_floor),
        },
    )  # fmt: skip


async def reconcile(
    db: AsyncSession,
    registrant: Registrant,
    period: Period,
    settings: Settings,
    now: datetime,
    *,
    run_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Run every rule over ``period``; returns what was found, per rule, what became of the
    discrepancies (opened, opened again, updated, cured) and how long it took (also announced,
    as the run finished, to the outbox)."""
    began = perf_counter()
    await _take_turn(db, registrant)
    facts = await gather(db, registrant, period, settings, now)
    found = rules.evaluate(facts, rule_settings(settings))
    outcomes: Counter[Outcome] = Counter()
    for item in found:
        recorded = await record_finding(
            db, registrant_id=registrant.id, finding=item.finding, now=now,
            event_ids=list(item.event_ids), staff_ids=[uuid.UUID(s) for s in item.staff_ids],
            about=item.subject, run_id=run_id,
        )  # fmt: skip
        outcomes[recorded.outcome] += 1
    fingerprints = frozenset(item.finding.fingerprint for item in found)
    cured = await cure(
        db, registrant_id=registrant.id, rules=rules.RUN_EVALUATED, still_found=fingerprints,
        why=lambda d: rules.RUN_EVALUATED[d.rule](facts, d.details), now=now, run_id=run_id,
    )  # fmt: skip
    cured += await cure(
        db, registrant_id=registrant.id, rules=invoice_rules.CODES,
        still_found=_Standing(fingerprints, judged=invoice_rules.judged(facts)),
        why=lambda _: invoice_rules.NO_LONGER_FOUND, now=now, run_id=run_id,
    )  # fmt: skip
    summary = {
        "run_id": None if run_id is None else str(run_id),
        "registrant_id": str(registrant.id),
        "first_day": period.first.isoformat(),
        "last_day": period.last.isoformat(),
        "findings": dict(Counter(item.finding.rule for item in found)),
        **{outcome.value: outcomes[outcome] for outcome in Outcome},
        "cured": cured,
        "duration_ms": round((perf_counter() - began) * 1000),
    }
    await outbox.publish(db, topic=RECONCILIATION_RUN_FINISHED,
                         registrant_id=registrant.id, payload=summary, now=now)  # fmt: skip
    return summary


class PeriodReversed(ValueError):
    """The last day given is before the first."""


async def reconcile_days(
    db: AsyncSession,
    registrant_id: uuid.UUID,
    settings: Settings,
    now: datetime,
    *,
    first_day: str | None,
    last_day: str | None,
) -> dict[str, Any]:
    """Reconcile a registrant's days now, outside the queue (``csledger reconcile``): from
    ``first_day`` (YYYY-MM-DD; by default yesterday on its clock) to ``last_day`` (by default
    the first), inclusive."""
    registrant = await find_registrant(db, registrant_id)
    today = local_date(registrant, now)
    first = date.fromisoformat(first_day) if first_day else today - timedelta(days=1)
    period = Period(first, date.fromisoformat(last_day) if last_day else first)
    if period.last < period.first:
        raise PeriodReversed(f"{period.last} is before {period.first}")
    return await reconcile(db, registrant, period, settings, now)


async def _take_turn(db: AsyncSession, registrant: Registrant) -> None:
    """Runs of one registrant take turns: each holds its row (not its key, which the ledger's
    writes share) until it commits, so two at once never judge the same discrepancies, each
    on facts the other is changing."""
    await db.execute(select(Registrant.id).where(Registrant.id == registrant.id)
                     .with_for_update(key_share=True))  # fmt: skip


async def gather(
    db: AsyncSession, registrant: Registrant, period: Period, settings: Settings, now: datetime
) -> Facts:
    rid = registrant.id
    start, end = period.bounds(registrant.timezone)
    today = now.astimezone(ZoneInfo(registrant.timezone)).date()
    first_activity, last_inventory = await queries.inventory_dates(db, registrant)
    window = timedelta(days=settings.count_pattern_window_days)
    grace = timedelta(days=settings.invoice_receipt_grace_days)
    invoiced = invoice_queries.Window(period.first, period.last, start, end, grace)
    lines, receipts, suppliers = await invoice_queries.invoice_facts(db, rid, invoiced)
    facts = Facts(
        today=today,
        first_activity_on=first_activity,
        last_full_inventory_on=last_inventory,
        counts=await queries.counts(db, rid, start, end, window),
        adjustments=await queries.adjustments(db, rid, start, end, window),
        session_ends=await session_queries.session_ends(db, rid, start, end),
        waste=await session_queries.waste(db, rid, start, end),
        monitoring_forms=await session_queries.monitoring_forms(db, registrant, start, end),
        expired_stock=await queries.expired_stock(db, rid, today),
        peer_stats=await peer_queries.peer_stats(
            db, rid, *peer_queries.peer_window(end, settings.peer_window_days)
        ),
        open_reports=await queries.open_reports(db, rid),
        invoice_lines=lines,
        invoice_receipts=receipts,
        invoicing_suppliers=suppliers,
    )
    return replace(facts, words=await _words(db, registrant, facts))


async def _words(db: AsyncSession, registrant: Registrant, facts: Facts) -> Words:
    """The names of what the facts mention, each kind in one query for the whole run (a
    patient by record number only: see app/reconciliation/words.py)."""
    places: list[Count | Adjustment | ExpiredStock | InvoiceReceipt] = [
        *facts.counts, *facts.adjustments, *facts.expired_stock, *facts.invoice_receipts
    ]  # fmt: skip
    sessions: list[SessionEnd | MonitoringForm | Waste] = [
        *facts.session_ends, *facts.monitoring_forms, *facts.waste
    ]  # fmt: skip
    names = await Within([registrant.id], patients_named=False).names(
        db,
        locations=[*(p.location_id for p in places), *(s.room_id for s in sessions)],
        lots=[*(p.lot_id for p in places), *(w.lot_id for w in facts.waste)],
        products=[*(p.product_id for p in [*places, *facts.waste, *facts.peer_stats,
                                           *facts.invoice_lines])],
        staff=[uuid.UUID(s) for s in (*(w.performed_by for w in facts.waste),
                                      *(s.staff_id for s in facts.peer_stats)) if s],
        patients=[s.patient_id for s in sessions],
    )  # fmt: skip
    return Words(zone=ZoneInfo(registrant.timezone), names=names)


RunHandler = Callable[[AsyncSession, ClaimedJob, Clock], Awaitable[dict[str, Any]]]


def job_handler(settings: Settings) -> RunHandler:
    async def handle(db: AsyncSession, job: ClaimedJob, clock: Clock) -> dict[str, Any]:
        assert job.registrant_id is not None
        registrant = await db.get(Registrant, job.registrant_id)
        assert registrant is not None
        period = Period(date.fromisoformat(job.payload["first_day"]),
                        date.fromisoformat(job.payload["last_day"]))  # fmt: skip
        return await reconcile(db, registrant, period, settings, clock.now(), run_id=job.id)

    return handle


NIGHTLY_AFTER = time(2, 0)
"""The nightly run of a registrant's previous day starts after 02:00 on its own clock."""


async def queue_run(
    db: AsyncSession,
    registrant_id: uuid.UUID,
    period: Period,
    now: datetime,
    *,
    requested_by: str,
    dedupe_key: str | None = None,
) -> uuid.UUID | None:
    """Queue a run; None when one under ``dedupe_key`` was queued already."""
    run_id = uuid.uuid4()
    payload = {"first_day": period.first.isoformat(), "last_day": period.last.isoformat(),
               "requested_by": requested_by}  # fmt: skip
    added = await jobs.enqueue(db, kind=JOB_KIND, now=now, registrant_id=registrant_id,
                               payload=payload, job_id=run_id, max_attempts=3,
                               dedupe_key=dedupe_key)  # fmt: skip
    return run_id if added else None


async def schedule_nightly(db: AsyncSession, job: ClaimedJob, clock: Clock) -> dict[str, Any]:
    """Queue each registrant's run of its previous day once its night has come (once a day:
    the dedupe key names the registrant and the day)."""
    now = clock.now()
    queued = 0
    for registrant in await db.scalars(select(Registrant)):
        local = now.astimezone(ZoneInfo(registrant.timezone))
        if local.time() < NIGHTLY_AFTER:
            continue
        yesterday = local.date() - timedelta(days=1)
        key = f"{JOB_KIND}:{registrant.id}:{yesterday.isoformat()}"
        run = Period(yesterday, yesterday)
        queued += await queue_run(db, registrant.id, run, now, requested_by="schedule",
                                  dedupe_key=key) is not None  # fmt: skip
    return {"queued": queued}
