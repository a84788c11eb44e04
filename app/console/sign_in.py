"""Signing in (OpenID Connect, or a development link) and out (docs/console.md#signing-in)."""

from datetime import timedelta
from typing import Any

import httpx
from fastapi import Request, Response
from fastapi.responses import HTMLResponse

from app.audit.recorder import AuditNote
from app.auth.tokens import principal_from_claims
from app.console import links, signing
from app.console.oidc import OidcClient, SignInFailed, console_claims
from app.console.oidc import Request as AuthorizationRequest
from app.console.web import (
    COOKIE,
    PREFIX,
    CsrfChecked,
    SignedIn,
    clear_session_cookie,
    console_router,
    see_other,
    set_session_cookie,
    templates,
)
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import Unauthenticated
from app.core.schemas import QueryText
from app.edge.deps import ClockDep, SessionDep, SettingsDep

router = console_router()

OIDC_KIND = "oidc"
_FLIGHT_COOKIE = "csledger_console_sign_in"
"""Binds an authorization request to the browser that began it (login CSRF)."""
_FLIGHT = timedelta(minutes=10)


def safe_return(target: str | None) -> str:
    """Where to go after signing in: a console page, never another site."""
    if target and target.startswith(f"{PREFIX}/") and "\\" not in target:
        return target
    return f"{PREFIX}/"


def _sign_in_page(
    request: Request,
    settings: Settings,
    *,
    status_code: int = 200,
    problem: str | None = None,
    next_page: str | None = None,
) -> HTMLResponse:
    context: dict[str, Any] = {
        "user": None, "oidc": settings.oidc_configured, "problem": problem,
        "next": safe_return(next_page), "development": not settings.is_production,
    }  # fmt: skip
    return templates.TemplateResponse(request, "sign_in.html", context, status_code=status_code)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request, settings: SettingsDep, next: QueryText | None = None
) -> Response:
    return _sign_in_page(request, settings, next_page=next)


@router.get("/sign-in/start")
async def start_sign_in(
    request: Request, clock: ClockDep, settings: SettingsDep,
    next: QueryText | None = None,
) -> Response:  # fmt: skip
    """Send the browser to the identity provider, with a fresh state, nonce and verifier."""
    if not settings.oidc_configured:
        return _sign_in_page(request, settings, status_code=404,
                             problem="No identity provider is configured.")  # fmt: skip
    flight = AuthorizationRequest.new()
    try:
        target = await _client(request, settings).authorization_url(flight, _callback(request))
    except SignInFailed as exc:
        return _sign_in_page(request, settings, status_code=502, problem=str(exc))
    async with _database(request).transaction() as db:
        await signing.begin_sign_in(
            db, kind=OIDC_KIND, payload={"nonce": flight.nonce, "verifier": flight.code_verifier},
            return_to=safe_return(next), now=clock.now(), lifetime=_FLIGHT,
            secret=flight.state,
        )  # fmt: skip
    response = see_other(target)
    response.set_cookie(_FLIGHT_COOKIE, signing.digest(flight.state), max_age=int(
        _FLIGHT.total_seconds()), path=f"{PREFIX}/sign-in", httponly=True,
        secure=settings.is_production, samesite="lax")  # fmt: skip
    return response


@router.get("/sign-in/callback")
async def finish_sign_in(
    request: Request, clock: ClockDep, settings: SettingsDep,
    state: QueryText = "", code: QueryText = "", error: QueryText | None = None,
) -> Response:  # fmt: skip
    """The provider's answer: the code exchanged (with the verifier) for a checked ID token."""
    if error is not None:
        return _sign_in_page(request, settings, status_code=401,
                             problem=f"The identity provider refused: {error}.")  # fmt: skip
    if request.cookies.get(_FLIGHT_COOKIE) != signing.digest(state):
        return _sign_in_page(request, settings, status_code=400,
                             problem="This sign-in was begun in another browser.")  # fmt: skip
    async with _database(request).transaction() as db:
        flight = await signing.take_sign_in(db, state, kind=OIDC_KIND, now=clock.now())
    if flight is None or not code:
        problem = "This sign-in has expired or was used; sign in again."
        return _sign_in_page(request, settings, status_code=400, problem=problem)
    answered = AuthorizationRequest(state, flight.payload["nonce"], flight.payload["verifier"])
    try:
        claims = await _client(request, settings).claims(answered, code, _callback(request))
    except SignInFailed as exc:
        return _sign_in_page(request, settings, status_code=401, problem=str(exc))
    response = await _signed_in(request, clock, settings, console_claims(claims, settings),
                                how=OIDC_KIND, return_to=flight.return_to)  # fmt: skip
    response.delete_cookie(_FLIGHT_COOKIE, path=f"{PREFIX}/sign-in")
    return response


@router.get("/sign-in/link")
async def follow_sign_in_link(
    request: Request, clock: ClockDep, settings: SettingsDep, ticket: QueryText = ""
) -> Response:
    """A development sign-in link (``make run`` prints one): it works once."""
    async with _database(request).transaction() as db:
        found = await signing.take_sign_in(db, ticket, kind=links.KIND, now=clock.now())
    if settings.is_production or found is None:
        return _sign_in_page(request, settings, status_code=401,
                             problem="This sign-in link has expired or was used.")  # fmt: skip
    return await _signed_in(request, clock, settings, found.payload, how=links.KIND,
                            return_to=found.return_to)  # fmt: skip


@router.post("/sign-out", dependencies=[CsrfChecked])
async def sign_out(
    request: Request, user: SignedIn, db: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    await signing.end_session(db, request.cookies[COOKIE], now=clock.now(), why="signed_out")
    response = see_other(f"{PREFIX}/sign-in?signed_out=1")
    clear_session_cookie(response, settings)
    return response


async def _signed_in(request: Request, clock: ClockDep, settings: Settings,
                     claims: dict[str, Any], *, how: str, return_to: str) -> Response:  # fmt: skip
    """Open a session for ``claims`` (a GET, so in a transaction of its own), audited as a
    sign-in by whom it names."""
    try:
        async with _database(request).transaction() as db:
            secret = await signing.open_session(db, claims, signed_in_with=how,
                                                now=clock.now(), settings=settings)  # fmt: skip
    except Unauthenticated as exc:
        return _sign_in_page(request, settings, status_code=403, problem=(
            f"Your account may not use csledger: {exc.detail}. Ask your administrator to give "
            "it csledger roles and registrants."))  # fmt: skip
    principal = principal_from_claims(claims)
    for registrant_id in principal.registrant_ids:  # in each trail of the registrants it sees
        principal.touches(registrant_id)
    request.state.principal = principal
    request.state.audit = AuditNote(resource_type="console_session", kind="sign_in")
    response = see_other(safe_return(return_to))
    set_session_cookie(response, secret, settings)
    return response


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def _client(request: Request, settings: Settings) -> OidcClient:
    transport: httpx.AsyncBaseTransport | None = getattr(request.app.state, "oidc_transport", None)
    return OidcClient(settings, transport)


def _callback(request: Request) -> str:
    settings: Settings = request.app.state.settings
    base = settings.public_url.rstrip("/") if settings.public_url else str(
        request.base_url).rstrip("/")  # fmt: skip
    return f"{base}{PREFIX}/sign-in/callback"
