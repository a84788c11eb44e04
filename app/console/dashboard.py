"""The dashboard of a registrant, or a roll-up across the registrants a person works at."""

import uuid
from typing import Any

from fastapi import Request, Response

from app.console import overview
from app.console.web import SignedIn, console_router, page
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
    context["view"] = await overview.of(db, user.principal, found.chosen, clock.now())
    context["expiring_days"] = overview.EXPIRING_DAYS
    return page(request, "dashboard.html", user, context)
