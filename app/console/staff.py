"""Staff and their peers: each person's withdrawals, waste and discrepancies per session of a
product beside their peers' (the numbers the peer-comparison rule judges), and the
registrant's discrepancies by rule, week by week. For whoever may read reports."""

import uuid
from typing import Annotated, Any

from fastapi import Query, Request, Response

from app.console import overview, staff_charts
from app.console.web import SignedIn, console_router, page
from app.core.schemas import IN_ASCII_DIGITS
from app.edge.audit import audited
from app.edge.deps import ClockDep, SessionDep, SettingsDep
from app.reconciliation import peer_view, trends
from app.registry.service import local_date

router = console_router()

Window = Annotated[int | None, Query(ge=1, le=366, description="days compared"), IN_ASCII_DIGITS]
Weeks = Annotated[int, Query(ge=1, le=53, description="weeks of the trend"), IN_ASCII_DIGITS]


@router.get("/staff")
@audited("report", resource_id="staff_peers", kind="report")
async def staff(
    request: Request,
    user: SignedIn,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    registrant_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    window: Window = None,
    weeks: Weeks = trends.WEEKS,
) -> Response:
    found = await overview.registrants(db, user.principal, registrant_id)
    context: dict[str, Any] = {"active": "staff", **found.context()}
    registrant = found.chosen
    if registrant is None:
        return page(request, "staff.html", user, context)
    now = clock.now()
    comparison = await peer_view.staff_comparison(
        db, user.principal, registrant, settings, now, product_id=product_id, window_days=window
    )
    counts = await trends.weekly_by_rule(db, user.principal, registrant.id, registrant.timezone,
                                         local_date(registrant, now), weeks)  # fmt: skip
    context |= {
        "comparison": comparison,
        "trend": staff_charts.Trend.of(counts, local_date(registrant, now), weeks),
        "titles": staff_charts.MEASURE_TITLES,
        "standing": staff_charts.standing,
        "spread": staff_charts.spread,
        "peer_chart": staff_charts.peer_chart,
        "trend_chart": staff_charts.trend_chart,
    }
    return page(request, "staff.html", user, context)
