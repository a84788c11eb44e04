"""The console's edge: its routes, its templates, who is signed in, and its answers to failure.

Console routes run in the same unit of work as the API's (:class:`UnitOfWorkRoute`: one
transaction, the audit row committed with a change), so a form that writes is audited as the
API's request would be. A failure is answered with a page, not a problem document: the same
status, the same words. A request without a live session is sent to sign in.
"""

import contextlib
import hmac
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.console import signing
from app.console.models import ConsoleSession
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import AppError, InvalidInput, PermissionDenied
from app.core.faults import answer_to
from app.core.instants import printed_instant
from app.core.quantity import format_quantity
from app.edge.deps import ClockDep, SessionDep, SettingsDep
from app.edge.middleware import log_failure
from app.edge.problems import field_errors
from app.edge.routing import UnitOfWorkRoute

PREFIX = "/console"
COOKIE = "csledger_console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
HERE = Path(__file__).parent

templates = Jinja2Templates(directory=HERE / "templates")


class SignInRequired(Exception):
    """No live session: the browser is sent to sign in, and brought back afterwards."""


@dataclass(frozen=True, slots=True)
class Area:
    """A part of the console, in its menu for whoever may use it."""

    key: str
    title: str
    path: str
    needs: Permission | None = None


AREAS = (
    Area("dashboard", "Dashboard", "/"),
    Area("discrepancies", "Discrepancies", "/discrepancies", needs=Permission.reports),
    Area("ledger", "Ledger", "/ledger"),
    Area("inventories", "Inventories", "/inventories", needs=Permission.counts),
    Area("reports", "Reports", "/reports", needs=Permission.reports),
    Area("pdmp", "PDMP", "/pdmp", needs=Permission.read_pdmp),
    Area("staff", "Staff and peers", "/staff", needs=Permission.reports),
    Area("integrity", "Integrity", "/integrity", needs=Permission.reports),
)


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """Who is signed in: their principal (the same as an API token's) and their session."""

    principal: Principal
    session: ConsoleSession

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


async def console_user(
    request: Request, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> ConsoleUser:
    secret = request.cookies.get(COOKIE)
    now = clock.now()
    found = await signing.live_session(db, secret, now=now, settings=settings) if secret else None
    if found is None:
        raise SignInRequired
    principal = signing.principal_of(found)
    request.state.principal = principal  # the audit row names who asked
    if signing.needs_touch(found, now):
        database: Database = request.app.state.database
        await database.execute_alone(signing.touch(found.id, now), {})
    return ConsoleUser(principal, found)


SignedIn = Annotated[ConsoleUser, Depends(console_user)]


async def console_caller(user: SignedIn, clock: ClockDep, settings: SettingsDep) -> Caller:
    """The signed-in person acting now: what a service that writes is handed."""
    return Caller.at(user.principal, clock, settings)


Acting = Annotated[Caller, Depends(console_caller)]


async def _checked_form(request: Request, user: SignedIn) -> None:
    """Refuse a form not sent from one of this session's pages (a forged cross-site post)."""
    form = await request.form()
    sent = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
    if not hmac.compare_digest(sent.encode(), user.csrf_token.encode()):
        raise PermissionDenied("this form was not sent from a page of your session; reload it")


CsrfChecked = Depends(_checked_form)
"""On every route that takes a form."""


class ConsoleRoute(UnitOfWorkRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                return _to_sign_in(request)
            except AppError as error:
                await _explained(request, error)
                return error_page(request, error)
            except RequestValidationError as invalid:
                errors = field_errors(invalid.errors())
                detail = "; ".join(f"{e.parameter or e.pointer}: {e.detail}" for e in errors)
                return error_page(request, InvalidInput(detail, errors=errors))
            except Exception as exc:  # a page, not a problem document: 503 or 500, logged
                failure = answer_to(exc)
                log_failure(exc, failure)
                return error_page(request, failure)

        return handle


def console_router(**kwargs: Any) -> APIRouter:
    """A router of console pages: under /console, in the unit of work, not in the OpenAPI
    document (they answer HTML to browsers, not JSON to clients)."""
    return APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False, **kwargs)


async def _explained(request: Request, error: AppError) -> None:
    database: Database = request.app.state.database
    with contextlib.suppress(Exception):  # the refusal stands as raised, ids for names
        await error.explained(database)


def _to_sign_in(request: Request) -> Response:
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = f"{PREFIX}/sign-in?next={quote(back, safe='')}"
    if request.headers.get("HX-Request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def error_page(request: Request, error: AppError) -> Response:
    """``error`` as a page, with its status and words (and in the audit row, its type). No
    menu: the failure may have come before anyone was known to be signed in."""
    request.state.problem_type = error.type_uri()
    context = {"error": error, "user": None,
               "request_id": getattr(request.state, "request_id", "-")}  # fmt: skip
    return templates.TemplateResponse(
        request, "error.html", context, status_code=error.status, headers=error.headers
    )


def page(
    request: Request,
    template: str,
    user: ConsoleUser,
    context: dict[str, Any],
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """``template`` rendered for ``user`` (the layout's menu and the form token need them)."""
    areas = [area for area in AREAS if area.needs is None or user.principal.can(area.needs)]
    return templates.TemplateResponse(
        request, template,
        {"user": user, "csrf_token": user.csrf_token, "areas": areas, **context},
        status_code=status_code,
    )  # fmt: skip


def see_other(url: str) -> RedirectResponse:
    """After a form that changed something: the page showing the change (Post/Redirect/Get)."""
    return RedirectResponse(url, status_code=303)


def set_session_cookie(response: Response, secret: str, settings: Settings) -> None:
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(settings.console_session_hours * 3600),
        path=PREFIX,
        httponly=True,
        secure=settings.is_production,
        samesite="lax",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE, path=PREFIX, httponly=True, secure=settings.is_production, samesite="lax"
    )


# Template filters: how a page prints what the domain holds.


def _at(value: datetime | None, zone: str | None = None) -> str:
    """An instant on the registrant's clock: "2026-03-02 10:15 CST"."""
    if value is None:
        return ""
    return printed_instant(value.astimezone(ZoneInfo(zone)) if zone else value)


def _quantity(value: Any) -> str:
    return "" if value is None else format_quantity(value)


def _words(value: Any) -> str:
    """An enum's value as words: ``unable_to_reconcile`` -> "unable to reconcile"."""
    return str(getattr(value, "value", value)).replace("_", " ")


def _csrf_input(token: str) -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, token)


templates.env.filters.update(at=_at, quantity=_quantity, words=_words)
templates.env.globals.update(csrf_input=_csrf_input, CSRF_HEADER=CSRF_HEADER, PREFIX=PREFIX)
