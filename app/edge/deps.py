"""What a route depends on: the unit of work's session, the clock, the settings, who calls
(``current_principal``; ``current_caller`` for a service that writes) and the claim of an
``Idempotency-Key``.

Each is ``async``: FastAPI runs a plain ``def`` dependency in a thread pool, a thread hop per
dependency per request for what is an attribute read.
"""

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import IntegrationScope
from app.auth.principal import Principal
from app.auth.tokens import TokenVerifier
from app.core import idempotency
from app.core.clock import Clock
from app.core.config import Settings
from app.core.errors import PreconditionRequired, Unauthenticated
from app.edge.answers import answering


@answering(503)
async def request_session(request: Request) -> AsyncSession:
    """The session the edge (``UnitOfWorkRoute``) opened for this request."""
    session: AsyncSession = request.state.session
    return session


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SessionDep = Annotated[AsyncSession, Depends(request_session)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]

_bearer = HTTPBearer(auto_error=False, description="A JWT from the identity provider.")


@answering(401, 403, 404, 503)  # the token; what it may do and see; an integration's scopes
async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("a bearer token is required")
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = verifier.verify(credentials.credentials).for_request()
    if principal.is_integration:
        principal = principal.with_scopes(await _integration_scopes(request, principal))
    request.state.principal = principal
    return principal


ScopeLoader = Callable[
    [AsyncSession, Principal], Awaitable[dict[uuid.UUID, frozenset[IntegrationScope]]]
]
"""Reads an integration's scopes per registrant (its configuration lives with the
integrations; ``app.main`` hands the reader over as ``app.state.integration_scopes``)."""


async def _integration_scopes(
    request: Request, principal: Principal
) -> dict[uuid.UUID, frozenset[IntegrationScope]]:
    load: ScopeLoader | None = getattr(request.app.state, "integration_scopes", None)
    session: AsyncSession | None = getattr(request.state, "session", None)
    if load is None or session is None:
        return {}
    return await load(session, principal)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def current_caller(
    principal: CurrentPrincipal, clock: ClockDep, settings: SettingsDep
) -> Caller:
    """The principal acting now: what a service that writes is handed."""
    return Caller.at(principal, clock, settings)


CurrentCaller = Annotated[Caller, Depends(current_caller)]


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=idempotency.HEADER,
        min_length=1,
        max_length=idempotency.MAX_KEY_LENGTH,
        description=(
            "A key of the caller's choosing, new for each change (a UUID): the same request "
            "sent again with it is answered with the first answer (`Idempotent-Replayed: "
            "true`), never made twice."
        ),
        examples=["0b4c2f1e-8a52-4d2b-9a1f-5f3c1d2e7a90"],
    ),
]


@answering(409, 422)  # a request with this key in flight; the key used for another request
async def _claim_idempotency_key(
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    clock: ClockDep,
    key: IdempotencyKey = None,
) -> None:
    if key is None:
        return
    request.state.idempotency = await idempotency.begin(
        session,
        scope=principal.subject,
        key=key,
        request_fingerprint=idempotency.fingerprint(
            request.method,
            request.url.path,
            request.url.query,
            await request.body(),
            authority=principal.authority,
        ),
        now=clock.now(),
    )


@answering(428, required_header=idempotency.HEADER)
async def _require_idempotency_key(
    key: IdempotencyKey = None,
) -> None:
    if key is None:
        raise PreconditionRequired(f"this request needs an {idempotency.HEADER} header")


Idempotent = Depends(_claim_idempotency_key)
"""On a POST that writes: an optional Idempotency-Key makes retries safe."""
IdempotencyRequired = [Depends(_require_idempotency_key), Idempotent]
"""For writes whose duplicates would be harmful (ledger, sessions, fills, batches)."""
