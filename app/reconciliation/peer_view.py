"""Staff beside their peers, as the console shows them: each member of staff's withdrawals,
waste and discrepancies per session of one product over a window, with their group's median
and spread, and who lies far from their peers.

The numbers are those the peer-comparison rule judges (app/reconciliation/peers.py), from the
same query and the same comparison: :func:`app.reconciliation.peer_queries.peer_stats` and
:func:`app.reconciliation.peers.compare`. A page and a finding cannot disagree.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.catalog.models import Product
from app.catalog.names import Names, ProductName, product_name
from app.catalog.service import products_query
from app.core.config import Settings
from app.core.errors import NotFound
from app.reconciliation import peer_queries, peers
from app.reconciliation.peers import PeerComparison, PeerMeasure, PeerSettings, PeerStat
from app.reconciliation.runs import Period, peer_settings
from app.registry.models import Registrant
from app.registry.service import local_date

MEASURES = (PeerMeasure.withdrawn, PeerMeasure.waste, PeerMeasure.discrepancies)
"""In the order a session goes: drawn, then wasted, then found wanting."""


@dataclass(frozen=True, slots=True)
class Person:
    """One member of staff on one measure."""

    name: str
    sessions: int
    per_session: Decimal
    z: Decimal | None
    """Their robust z-score among their peers, as the rule's finding gives it; None when they
    were not compared."""
    outlier: bool
    not_compared: str | None = None
    """Why they were not compared (too few sessions, too few peers)."""


@dataclass(frozen=True, slots=True)
class MeasureView:
    """A measure of one group of like work: its people, and their peers' statistics (None
    when the group was too small to compare anyone)."""

    measure: PeerMeasure
    unit: str
    people: list[Person]
    median: Decimal | None = None
    spread: Decimal | None = None
    flagged_from: Decimal | None = None

    @property
    def compared(self) -> bool:
        return self.median is not None


@dataclass(frozen=True, slots=True)
class WorkView:
    """Staff of one role doing like work (the same plan dose) with the product."""

    role: str
    work: str
    measures: list[MeasureView]


@dataclass(frozen=True, slots=True)
class StaffComparison:
    products: list[ProductName]
    product: ProductName | None
    first_day: date
    last_day: date
    window_days: int
    rules: PeerSettings
    groups: list[WorkView]


async def staff_comparison(
    db: AsyncSession,
    principal: Principal,
    registrant: Registrant,
    settings: Settings,
    now: datetime,
    *,
    product_id: uuid.UUID | None,
    window_days: int | None,
) -> StaffComparison:
    """The registrant's staff beside their peers on ``product_id`` (by default the first of
    its products anyone used in the window), over the ``window_days`` up to and including
    today (by default ``peer_window_days``): what a reconciliation run of today compares."""
    principal.require(Permission.reports)
    principal.ensure_registrant(registrant.id)
    days = window_days or settings.peer_window_days
    today = local_date(registrant, now)
    _, end = Period(today, today).bounds(registrant.timezone)
    stats = await peer_queries.peer_stats(db, registrant.id, *peer_queries.peer_window(end, days))
    products = [product_name(p) for p in await db.scalars(
        products_query(principal, registrant_id=registrant.id, ndc=None, compound_code=None,
                       dosage_form=None).order_by(Product.name, Product.id)
    )]  # fmt: skip
    product = _chosen(products, stats, product_id)
    rules = peer_settings(settings)
    first_day = today - timedelta(days=days - 1)
    if product is None:
        return StaffComparison(products, None, first_day, today, days, rules, [])
    of_product = [s for s in stats if s.product_id == product.id]
    names = await Names.load(db, principal, staff=[uuid.UUID(s.staff_id) for s in of_product])
    groups = _work_views(of_product, peers.compare(of_product, rules), rules, names)
    return StaffComparison(products, product, first_day, today, days, rules, groups)


def _chosen(
    products: list[ProductName], stats: list[PeerStat], product_id: uuid.UUID | None
) -> ProductName | None:
    if product_id is not None:
        found = next((p for p in products if p.id == product_id), None)
        if found is None:
            raise NotFound("product not found")
        return found
    used = {s.product_id for s in stats}
    return next((p for p in products if p.id in used), products[0] if products else None)


def _work_views(
    stats: list[PeerStat], groups: list[peers.PeerGroup], rules: PeerSettings, names: Names
) -> list[WorkView]:
    """Per role and work, each measure's people (most per session first) with their group's
    statistics; whoever the rule did not compare is listed, and why."""
    judged: dict[tuple[str, str, PeerMeasure], peers.PeerGroup] = {
        (g.role, g.work, g.measure): g for g in groups
    }
    comparisons: dict[tuple[str, str, PeerMeasure], PeerComparison] = {
        (stat.staff_id, stat.work, stat.measure): c for g in groups for stat, c in g.members
    }
    by_work: defaultdict[tuple[str, str], defaultdict[PeerMeasure, list[Person]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for stat in stats:
        named = names.staff.get(uuid.UUID(stat.staff_id))
        comparison = comparisons.get((stat.staff_id, stat.work, stat.measure))
        name = named.name if named else "someone no longer on staff"
        person = _person(stat, name, comparison, rules)
        by_work[(stat.role, stat.work)][stat.measure].append(person)
    return [
        WorkView(role, work, [
            _measure_view(measure, people[measure], judged.get((role, work, measure)))
            for measure in MEASURES
        ])
        for (role, work), people in sorted(by_work.items())
    ]  # fmt: skip


def _person(
    stat: PeerStat, name: str, comparison: PeerComparison | None, rules: PeerSettings
) -> Person:
    if comparison is not None:
        z = peers.rounded_z(comparison.z)
        return Person(name, stat.sessions, stat.per_session, z, comparison.outlier)
    if stat.sessions < rules.min_sessions:
        why = f"{stat.sessions} of the {rules.min_sessions} sessions needed"
    else:
        why = f"fewer than {rules.min_peers} peers to compare with"
    return Person(name, stat.sessions, stat.per_session, None, False, why)


def _measure_view(
    measure: PeerMeasure, people: list[Person], group: peers.PeerGroup | None
) -> MeasureView:
    ordered = sorted(people, key=lambda p: (-p.per_session, p.name))
    if group is None:
        return MeasureView(measure, peers.unit_of(measure), ordered)
    return MeasureView(measure, peers.unit_of(measure), ordered, group.median, group.spread,
                       group.flagged_from)  # fmt: skip
