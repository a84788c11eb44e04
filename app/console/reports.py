"""The reports page: every report the API serves, each with its form; and each report's
download, served here by the API route's own code, so the console has no second
implementation of a report.

A download runs the API route as it runs for a client of the API (its query parameters
checked as the API checks them, its permission checks, its audit declaration, its answer
with the same Content-Type and Content-Disposition); only who asks comes from the console's
session instead of a bearer token. A refusal of the parameters comes back as the report's
form, each error beside its field."""

import uuid
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request, Response
from fastapi.dependencies.utils import solve_dependencies
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.console import overview, report_choices
from app.console.report_catalog import FORMAT_NAMES, REPORTS, Kind, Report
from app.console.web import ConsoleUser, SignedIn, console_router, page, templates
from app.core.errors import AppError, InvalidInput
from app.edge.audit import declared_on, note
from app.edge.deps import ClockDep, SessionDep, current_principal
from app.edge.problems import field_errors
from app.registry.models import Registrant
from app.registry.service import local_date

router = console_router()
PERIOD_DAYS = 30
"""The period a form offers first: the last month, to yesterday."""
PAGE_REGISTRANT = "page_registrant_id"
"""The registrant whose page a form without a registrant of its own was sent from (for its
choices if it is refused): not ``registrant_id``, which would make the pull about it."""


@router.get("/reports")
async def reports_page(
    request: Request,
    user: SignedIn,
    db: SessionDep,
    clock: ClockDep,
    registrant_id: uuid.UUID | None = None,
) -> Response:
    user.principal.require(Permission.reports)
    found = await overview.registrants(db, user.principal, registrant_id)
    context: dict[str, Any] = {"active": "reports", **found.context(), "reports": REPORTS}
    if found.chosen is not None:
        forms = await _forms(request, db, user.principal, found.chosen, clock.now(), REPORTS)
        context["forms"] = forms
    return page(request, "reports.html", user, context)


@dataclass(frozen=True, slots=True)
class Forms:
    """What the forms show: the values first offered (or sent), the choices, the errors."""

    values: Mapping[str, str]
    choices: dict[str, list[report_choices.Option]]
    errors: dict[str, str] = field(default_factory=dict)


async def _forms(
    request: Request,
    db: AsyncSession,
    principal: Principal,
    registrant: Registrant | None,
    now: datetime,
    reports: tuple[Report, ...],
    sent: Mapping[str, str] | None = None,
) -> Forms:
    names = {f.name for r in reports for f in r.fields if f.kind is Kind.reference}
    choices = {} if registrant is None else await report_choices.choices(
        db, principal, registrant, names
    )  # fmt: skip
    if choices.keys() & report_choices.PATIENT_DATA:  # the page names patients
        note(request, resource_type="patient", patient_read=True)
    return Forms(sent if sent is not None else _first_values(registrant, now), choices)


def _first_values(registrant: Registrant | None, now: datetime) -> dict[str, str]:
    if registrant is None:
        return {}
    today = local_date(registrant, now)
    yesterday = today - timedelta(days=1)
    local_now = now.astimezone(ZoneInfo(registrant.timezone)).replace(microsecond=0)
    return {"from": (yesterday - timedelta(days=PERIOD_DAYS - 1)).isoformat(),
            "to": yesterday.isoformat(), "date": yesterday.isoformat(),
            "as_of": local_now.isoformat()}  # fmt: skip


def _download(report: Report) -> Callable[..., Awaitable[Response]]:
    async def download(
        request: Request, user: SignedIn, db: SessionDep, clock: ClockDep
    ) -> Response:
        try:
            return await as_api(request, report.route, user.principal)
        except RequestValidationError as invalid:
            refused: AppError = InvalidInput("the report's fields were refused",
                                             errors=field_errors(invalid.errors()))  # fmt: skip
        except AppError as error:
            if error.status != InvalidInput.status:
                raise  # 403, 404...: the console's error page
            refused = error
        return await _refused(request, user, db, clock.now(), report, refused)

    declared = declared_on(report.route.endpoint)
    if declared is not None:  # the API route's audit declaration, noted by the unit of work
        download.audited = declared  # type: ignore[attr-defined]
    return download


@dataclass(frozen=True, slots=True)
class _Overrides:
    """FastAPI's dependency overrides for one call: its ``dependency_overrides``."""

    dependency_overrides: dict[Callable[..., Any], Callable[..., Any]]


async def as_api(request: Request, route: APIRoute, principal: Principal) -> Response:
    """``route`` answering ``request`` as it answers a client of the API, ``principal`` in
    the place of the bearer token's: FastAPI solves the route's dependencies (its query
    parameters, its registrant, its period), then its endpoint runs."""

    async def signed_in() -> Principal:
        return principal

    request = _without_empty_fields(request)

    overrides = _Overrides({**request.app.dependency_overrides, current_principal: signed_in})
    async with AsyncExitStack() as stack:
        solved = await solve_dependencies(
            request=request, dependant=route.dependant, async_exit_stack=stack,
            embed_body_fields=False, dependency_overrides_provider=overrides,
        )  # fmt: skip
        if solved.errors:
            raise RequestValidationError(solved.errors)
        answer = await route.endpoint(**solved.values)
    assert isinstance(answer, Response)
    return answer


def _without_empty_fields(request: Request) -> Request:
    """A form sends a field left empty as an empty value; a client of the API leaves the
    parameter out, and so does the console (the audit row records what was given)."""
    given = [(key, value) for key, value in request.query_params.multi_items() if value]
    request.scope["query_string"] = urlencode(given).encode()
    return Request(request.scope, request.receive)


async def _refused(
    request: Request,
    user: ConsoleUser,
    db: AsyncSession,
    now: datetime,
    report: Report,
    refused: AppError,
) -> Response:
    """The report's form again, as sent, each error beside its field."""
    request.state.problem_type = refused.type_uri()
    sent = request.query_params
    registrant_id = report_choices.parsed_id(sent.get("registrant_id") or sent.get(PAGE_REGISTRANT))
    found = await overview.registrants(db, user.principal, registrant_id)
    forms = await _forms(request, db, user.principal, found.chosen, now, (report,), dict(sent))
    forms.errors.update({e.parameter: e.detail for e in refused.errors if e.parameter})
    placed = {f.name for f in report.fields if f.kind is not Kind.registrant}
    unplaced = [e for e in refused.errors if e.parameter not in placed]
    context = {"active": "reports", **found.context(), "report": report, "forms": forms,
               "refused": refused, "unplaced": unplaced}  # fmt: skip
    return page(request, "report.html", user, context, status_code=refused.status)


for _report in REPORTS:
    router.add_api_route(f"/reports/{_report.slug}/download", _download(_report),
                         methods=["GET"], name=_report.name)  # fmt: skip

templates.env.globals.update(FORMAT_NAMES=FORMAT_NAMES, PAGE_REGISTRANT=PAGE_REGISTRANT)
