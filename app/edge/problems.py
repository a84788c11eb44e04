"""Turn every failure into an ``application/problem+json`` answer.

Any other exception is answered by ``RequestContextMiddleware`` (app.edge.middleware), which
logs it with the request id: 503 when the database failed to serve, wherever that was met
(:func:`app.core.faults.answer_to`), else 500; its message, a stack trace or SQL never reach
the client. Routes under a prefix given a :class:`ProblemFormat` (FHIR's, whose errors are an
``OperationOutcome``) are answered in that format instead, by the same handlers.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import State
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core import strict_json
from app.core.errors import (
    PROBLEM_MEDIA_TYPE,
    AppError,
    BadRequest,
    Conflict,
    FieldError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    problem_body,
)
from app.core.idempotency import IdempotentReplay

log = logging.getLogger("csledger.errors")
_VALUE_ERROR_PREFIX = "Value error, "


class Renderer(Protocol):
    def __call__(self, error: AppError, *, instance: str, request_id: str) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ProblemFormat:
    """Another answer than problem details for the routes under ``prefix``."""

    prefix: str
    media_type: str
    render: Renderer
    """The body answering an error."""
    schema_name: str
    schema: dict[str, Any]
    """The body's JSON schema, a component of the OpenAPI document under ``schema_name``."""


def use_problem_format(app: FastAPI, problem_format: ProblemFormat) -> None:
    app.state.problem_formats = (*getattr(app.state, "problem_formats", ()), problem_format)


def problem_content(
    app_state: State, path: str, error: AppError, request_id: str
) -> tuple[str, bytes]:
    """The media type and body answering ``error`` on ``path``."""
    for found in getattr(app_state, "problem_formats", ()):
        if path.startswith(found.prefix):
            return found.media_type, found.render(error, instance=path, request_id=request_id)
    body = problem_body(error, instance=path, request_id=request_id)
    return PROBLEM_MEDIA_TYPE, orjson.dumps(body)


def problem_response(request: Request, error: AppError) -> Response:
    request_id = getattr(request.state, "request_id", "-")
    request.state.problem_type = error.type_uri()
    media_type, body = problem_content(request.app.state, request.url.path, error, request_id)
    return Response(body, status_code=error.status, headers=error.headers, media_type=media_type)


def field_errors(raw: Sequence[Any]) -> list[FieldError]:
    """Pydantic's error list as RFC 9457 ``errors``: a JSON pointer for the body, else a name."""
    found = []
    for error in raw:
        location = [str(part) for part in error.get("loc", ())]
        message = str(error.get("msg", "invalid")).removeprefix(_VALUE_ERROR_PREFIX)
        if location and location[0] == "body":
            found.append(FieldError(pointer=json_pointer(location[1:]), detail=message))
        else:
            found.append(FieldError(parameter=location[-1] if location else None, detail=message))
    return found


def json_pointer(parts: Sequence[str]) -> str:
    escaped = (part.replace("~", "~0").replace("/", "~1") for part in parts)
    return "#/" + "/".join(escaped) if parts else "#"


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    try:
        await exc.explained(request.app.state.database)
    except Exception:  # the refusal stands as raised: its ids name what a name would have
        log.warning("problem %s not explained", exc.slug, exc_info=True)
    return problem_response(request, exc)


async def _replay(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, IdempotentReplay)
    stored = exc.stored
    headers = dict(stored.headers) | {"Idempotent-Replayed": "true"}
    return Response(stored.body, status_code=stored.status_code, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if isinstance(exc.body, strict_json.Refused):  # in place of a body (StrictJsonRequest)
        pointer = json_pointer([str(part) for part in exc.body.path])
        return problem_response(request, InvalidInput.at(pointer, exc.body.detail))
    errors = field_errors(exc.errors())
    detail = "; ".join(
        f"{e.pointer or e.parameter}: {e.detail}" if (e.pointer or e.parameter) else e.detail
        for e in errors
    )
    return problem_response(request, InvalidInput(detail, errors=errors))


_HTTP_PROBLEMS: dict[int, type[AppError]] = {
    400: BadRequest,
    404: NotFound,
    413: PayloadTooLarge,
}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.__cause__, AppError):  # e.g. the body limit, hit while FastAPI reads
        return problem_response(request, exc.__cause__)
    if exc.status_code == 405:
        return problem_response(request, _method_not_allowed(request))
    known = _HTTP_PROBLEMS.get(exc.status_code)
    if known is not None:
        return problem_response(request, known(str(exc.detail)))
    if 400 <= exc.status_code < 500:
        return problem_response(request, BadRequest(str(exc.detail)))
    return problem_response(request, AppError())


def _method_not_allowed(request: Request) -> MethodNotAllowed:
    """405 with ``Allow`` naming every method of the path (RFC 9110, 15.5.6). Starlette's own
    names only those of the first route matching the path, while each method of a path here
    is a route of its own."""
    path = request.url.path
    allowed = sorted(
        method
        for route in iter_route_contexts(request.app.routes)
        if route.path_regex.match(path)
        for method in route.methods or ()
    )
    detail = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
    return MethodNotAllowed(detail, headers={"Allow": ", ".join(allowed)})


async def _integrity_error(request: Request, exc: Exception) -> Response:
    log.warning("integrity error reached the edge", exc_info=exc)
    return problem_response(request, Conflict("the change conflicts with existing data"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(IdempotentReplay, _replay)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
