"""Integrity: verifying a registrant's ledger end to end, its signed checkpoints, and the keys
that sign them. For whoever may pull the registrant's reports, as the API's verifications."""

import uuid
from typing import Any

from fastapi import Request, Response

from app.auth.permissions import Permission
from app.console import overview
from app.console.web import Acting, CsrfChecked, SignedIn, console_router, page, see_other
from app.core.errors import FieldError, InvalidInput
from app.edge.deps import SessionDep, SettingsDep
from app.ledger import checkpoints, keys, verification_runs
from app.registry.service import get_registrant

router = console_router()

CHECKPOINTS_SHOWN = 20
"""The newest; the API pages through them all (``GET /v1/ledger/checkpoints``)."""


@router.get("/integrity")
async def integrity(
    request: Request,
    user: SignedIn,
    db: SessionDep,
    settings: SettingsDep,
    registrant_id: uuid.UUID | None = None,
) -> Response:
    found = await overview.registrants(db, user.principal, registrant_id)
    context: dict[str, Any] = {"active": "integrity", **found.context()}
    user.principal.require(Permission.reports)
    if found.chosen is not None:
        published = keys.published_keys(settings)
        context |= {
            "checkpoints": await checkpoints.newest(db, found.chosen.id, CHECKPOINTS_SHOWN),
            "shown": CHECKPOINTS_SHOWN, "current_key": published[0], "retired_keys": published[1:],
        }  # fmt: skip
    return page(request, "integrity.html", user, context)


@router.post("/integrity/verifications", dependencies=[CsrfChecked])
async def start_verification(
    request: Request,
    caller: Acting,
    db: SessionDep,
) -> Response:
    form = await request.form()
    registrant_id = _registrant_id(str(form.get("registrant_id") or ""))
    job = await verification_runs.start(db, registrant_id, caller)
    return see_other(f"/console/integrity/verifications/{job.id}")


def _registrant_id(sent: str) -> uuid.UUID:
    try:
        return uuid.UUID(sent)
    except ValueError:
        detail = "choose the registrant whose ledger to verify"
        raise InvalidInput(detail, errors=[FieldError(pointer="#/registrant_id",
                                                      detail=detail)]) from None  # fmt: skip


@router.get("/integrity/verifications/{verification_id}")
async def verification(
    request: Request, verification_id: uuid.UUID, user: SignedIn, db: SessionDep
) -> Response:
    """The run's status and outcome; while it waits or runs, htmx asks again every second
    (the part that says so is all it asks for) and a browser without it has a link."""
    job = await verification_runs.get_run(db, verification_id, user.principal)
    assert job.registrant_id is not None  # a verification is always of one registrant
    registrant = await get_registrant(db, job.registrant_id, principal=user.principal)
    context = {"active": "integrity", "registrant": registrant, "job": job,
               "finished": verification_runs.finished(job)}  # fmt: skip
    partial = request.headers.get("HX-Request") and not request.headers.get("HX-Boosted")
    return page(request, "_verification.html" if partial else "verification.html", user, context)
