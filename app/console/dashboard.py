"""The dashboard of a registrant, or a roll-up across the registrants a person works at."""

import uuid
from typing import Any

from fastapi import Request, Response

from app.console import overview
from app.console.web import SignedIn, console_router, page
from app.edge.audit import note
from app.edge.deps import ClockDep, SessionDep

router = console_router()


@router.get("/")
async def dashboard(
    request: Request,
    user: SignedIn,
    db: SessionDep,
    clock: ClockDep,
    registrant_id: uuid.UUID | None = None,
) -> Response:
    found = await overview.registrants(db, user.principal, registrant_id)
    context: dict[str, Any] = {"active": "dashboard", "allow_all": True, **found.context()}
    if found.chosen is None:
        context["rollup"] = await overview.rollup(db, user.principal, found.all, clock.now())
        return page(request, "rollup.html", user, context)
    view = await overview.of(db, user.principal, found.chosen, clock.now())
    if overview.shows_patients(view):
        note(request, resource_type="dashboard", patient_read=True)
    context |= {
        "view": view,
        "expiring_days": overview.EXPIRING_DAYS,
        "rems_days": overview.REMS_LOOKBACK_DAYS,
    }
    return page(request, "dashboard.html", user, context)
