"""What each operation can answer besides success, derived from its route, in one place.

Most of it follows from the route's shape: a parameter or a body can be invalid (422), a body
too large (413), a path name something not there (404), and a write conflict with what is
stored (409, also what a constraint violated answers at the edge). The rest is declared once,
on the dependency that answers it, with :func:`answering`: the token (401, 403, 404), the
session (503), the Idempotency-Key (409 while in flight, 422 reused; 428 and the header
required where it must be sent). Every operation using that dependency documents it.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ANSWERS = "__csledger_answers__"

Call = TypeVar("Call", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Answers:
    statuses: frozenset[int]
    required_header: str | None = None
    """A header the dependency reads as optional, so that it answers its absence itself (428,
    not FastAPI's 422), and which is documented ``required: true``."""


def answering(*statuses: int, required_header: str | None = None) -> Callable[[Call], Call]:
    """Declare on a dependency the statuses it answers, for every operation that uses it."""

    def mark(call: Call) -> Call:
        setattr(call, _ANSWERS, Answers(frozenset(statuses), required_header))
        return call

    return mark


def statuses_of(route: APIRoute) -> frozenset[int]:
    """Every status other than success that ``route`` can answer."""
    dependant = route.dependant
    found: set[int] = set()
    if _parameters(dependant) or route.body_field is not None:
        found.add(422)
    if dependant.path_params:
        found.add(404)
    if route.body_field is not None:
        found.add(413)
    if not (route.methods or set()) <= READ_METHODS:
        found.add(409)
    for answers in _declared(dependant):
        found |= answers.statuses
    return frozenset(found)


def required_headers_of(route: APIRoute) -> frozenset[str]:
    """The headers ``route`` requires though FastAPI reads them as optional."""
    return frozenset(
        answers.required_header
        for answers in _declared(route.dependant)
        if answers.required_header is not None
    )


def _parameters(dependant: Dependant) -> list[Any]:
    return [
        *dependant.path_params,
        *dependant.query_params,
        *dependant.header_params,
        *dependant.cookie_params,
        *(parameter for child in dependant.dependencies for parameter in _parameters(child)),
    ]


def _declared(dependant: Dependant) -> Iterator[Answers]:
    answers = getattr(dependant.call, _ANSWERS, None)
    if answers is not None:
        yield answers
    for child in dependant.dependencies:
        yield from _declared(child)
