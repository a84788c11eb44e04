"""Problem details (RFC 9457) for every failure.

The exception tree, each class one stable problem ``type``::

    AppError                      500 internal-error
    ├── BadRequest                400 bad-request
    ├── InvalidInput              422 invalid-input       (with ``errors``: pointer + detail)
    ├── Unauthenticated           401 unauthenticated
    ├── PermissionDenied          403 permission-denied
    ├── NotFound                  404 not-found           (also: another registrant's object)
    ├── Conflict                  409 conflict
    │   └── AlreadyExists         409 already-exists
    ├── PreconditionRequired      428 precondition-required
    ├── PayloadTooLarge           413 payload-too-large
    └── ServiceUnavailable        503 service-unavailable (database unreachable or busy)

Domains add their own subclasses; each registers itself and is listed in the OpenAPI document.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # the database module raises these errors itself
    from app.core.db import Database

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:csledger:problem:"


class FieldError(BaseModel):
    """One invalid field: a JSON pointer into the body, or the name of a parameter."""

    detail: str
    pointer: str | None = Field(default=None, examples=["#/dea_number"])
    parameter: str | None = Field(default=None, examples=["limit"])


class AppError(Exception):
    slug: ClassVar[str] = "internal-error"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    description: ClassVar[str] = "Something failed on our side; the request id helps us find it."
    members: ClassVar[dict[str, "Member"]] = {}
    """The extension members this problem carries beyond those every problem may
    (:class:`Problem`): listed, with what each says, in the OpenAPI document's Problem."""
    registry: ClassVar[dict[str, type["AppError"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.slug in AppError.registry and AppError.registry[cls.slug] is not cls:
            raise TypeError(f"problem type {cls.slug!r} is defined twice")
        AppError.registry[cls.slug] = cls

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = list(errors)
        self.headers = headers or {}
        self.extra = extra or {}

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_TYPE_PREFIX + cls.slug

    async def explained(self, database: "Database") -> None:
        """Complete ``detail`` and ``extra`` with what a person reads (names, numbers), from
        the database, once the refused request's work was rolled back. A problem raised where
        only ids are at hand overrides it; the handler answers without it should it fail."""


AppError.registry[AppError.slug] = AppError


class BadRequest(AppError):
    slug = "bad-request"
    status = 400
    title = "Bad request"
    description = "The request could not be understood (headers or framing)."


class InvalidInput(AppError):
    slug = "invalid-input"
    status = 422
    title = "Invalid input"
    description = "The request is malformed or breaks a field rule; `errors` names each field."

    @classmethod
    def at(cls, pointer: str, detail: str) -> "InvalidInput":
        return cls(detail, errors=[FieldError(pointer=pointer, detail=detail)])


class Unauthenticated(AppError):
    slug = "unauthenticated"
    status = 401
    title = "Unauthenticated"
    description = "No bearer token, or one that is malformed, expired or not ours."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="csledger"'})


class PermissionDenied(AppError):
    slug = "permission-denied"
    status = 403
    title = "Permission denied"
    description = "None of the caller's roles grants this action."


class NotFound(AppError):
    slug = "not-found"
    status = 404
    title = "Not found"
    description = "No such resource for this caller (another registrant's objects look the same)."


class Conflict(AppError):
    slug = "conflict"
    status = 409
    title = "Conflict"
    description = "The request conflicts with the current state of the resource."


class AlreadyExists(Conflict):
    slug = "already-exists"
    title = "Already exists"
    description = "A resource with the same unique identifier already exists."


class PreconditionRequired(AppError):
    slug = "precondition-required"
    status = 428
    title = "Precondition required"
    description = "A required request header (such as Idempotency-Key) is missing."


class PayloadTooLarge(AppError):
    slug = "payload-too-large"
    status = 413
    title = "Payload too large"
    description = "The request is larger than this endpoint accepts."


RETRY_AFTER_SECONDS = 1
"""The ``Retry-After`` of a 503. The database's outages this answers are short: SQLite's busy
writer is done in milliseconds, and a PostgreSQL restart or failover in a few seconds, after
which the pool's first checkout replaces the connections the server closed. A second brings a
client back while the outage ends, without hammering a server that is starting, and a retry
with the same Idempotency-Key is safe however soon it comes."""


class ServiceUnavailable(AppError):
    slug = "service-unavailable"
    status = 503
    title = "Service unavailable"
    description = "The database is unreachable or busy; retry after the given delay."

    def __init__(
        self,
        detail: str = "the database is unavailable",
        *,
        retry_after_seconds: int = RETRY_AFTER_SECONDS,
    ) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)})


class MethodNotAllowed(AppError):
    slug = "method-not-allowed"
    status = 405
    title = "Method not allowed"
    description = "The resource exists but does not accept this method (the ledger never updates)."


@dataclass(frozen=True, slots=True)
class Member:
    """An extension member of a problem document: its JSON type and what it says."""

    type: str
    description: str
    items: dict[str, Any] | None = None
    """An array's items, as JSON Schema."""


class Problem(BaseModel):
    """An RFC 9457 problem document, with the extension members some problems carry. A member
    no field here names is refused (``extra="forbid"``), so each is documented."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(
        description="One of the document's `x-problem-types`: what went wrong, for a program.",
        examples=[InvalidInput.type_uri()],
    )
    title: str = Field(examples=[InvalidInput.title])
    status: int = Field(examples=[InvalidInput.status])
    detail: str = Field(examples=["name: String should have at least 1 character"])
    instance: str = Field(description="The request's path.", examples=["/v1/registrants"])
    request_id: str = Field(description="As in `X-Request-ID`: what to tell support.")
    errors: list[FieldError] | None = Field(
        default=None, description="Invalid input: each invalid field, by pointer or name."
    )
    broken_rules: list[str] | None = Field(
        default=None,
        description=(
            "A rule refused: every rule the request broke. An `override_reason` excuses them, "
            "unless the problem says none may."
        ),
        examples=[["dose_beyond_plan"]],
    )
    index: int | None = Field(
        default=None, description="A batch refused: the position of the event at fault."
    )


def problem_body(error: AppError, *, instance: str, request_id: str) -> dict[str, Any]:
    """The problem document of ``error``: the standard members, validated, then the
    members its class declares (:attr:`AppError.members`), as given."""
    common = {name: error.extra[name] for name in _COMMON_MEMBERS if name in error.extra}
    declared = {name: value for name, value in error.extra.items() if name not in common}
    body = Problem(
        type=error.type_uri(),
        title=error.title,
        status=error.status,
        detail=error.detail,
        instance=instance,
        request_id=request_id,
        errors=error.errors or None,
        **common,
    ).model_dump(exclude_none=True)
    return body | declared


def declared_members() -> dict[str, "Member"]:
    """Every extension member some problem declares, for the Problem schema (a member two
    problems declare says one thing)."""
    found: dict[str, Member] = {}
    for error in AppError.registry.values():
        for name, member in error.members.items():
            if found.setdefault(name, member) != member:
                raise TypeError(f"the problem member {name!r} is declared twice, differently")
    return found


_COMMON_MEMBERS = frozenset(Problem.model_fields) - {"type", "title", "status", "detail"}
"""Members any problem may carry, validated by :class:`Problem` (``errors``,
``broken_rules``, ``index``...)."""
