"""What holds for every page of the console, whichever area it belongs to."""

import re
import uuid

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from app.auth.permissions import Role
from app.console.web import ConsoleRoute
from app.main import PATH_OWNERS
from tests.factories import create_registrant

pytestmark = pytest.mark.usefixtures("dialect")

_OPEN = {"/console/sign-in", "/console/sign-in/start", "/console/sign-in/callback",
         "/console/sign-in/link"}  # fmt: skip
"""The pages a browser reaches before it is signed in."""


def console_routes(app) -> list[APIRoute]:
    found = [context.original_route for context in iter_route_contexts(app.routes)]
    return [r for r in found if isinstance(r, APIRoute) and r.path.startswith("/console")]


def _path(route: APIRoute) -> str:
    """The route's path with a random id for each parameter (what no one has)."""
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), route.path)


def test_every_console_route_is_a_console_route(app) -> None:
    """Each answers failures with a page and keeps to the unit of work (ConsoleRoute)."""
    routes = console_routes(app)
    assert routes
    assert all(isinstance(route, ConsoleRoute) for route in routes)


def test_every_path_parameter_names_its_owner(app) -> None:
    """A refused request is audited at the owner of what its path names (app/main.py)."""
    for route in console_routes(app):
        for name in re.findall(r"\{([^}:]+)", route.path):
            assert name in PATH_OWNERS, f"{route.path}: add {name} to PATH_OWNERS"


async def test_every_page_sends_a_stranger_to_sign_in(app, client) -> None:
    for route in console_routes(app):
        if route.path in _OPEN:
            continue
        for method in (route.methods or set()) - {"HEAD"}:
            answer = await client.request(method, _path(route))
            assert answer.status_code == 303, (method, route.path, answer.status_code)
            assert answer.headers["location"].startswith("/console/sign-in?next="), route.path


async def test_every_form_refuses_a_post_without_the_sessions_token(
    app, client, admin_token, signed_in
) -> None:
    registrant = await create_registrant(client, admin_token)
    browser = await signed_in([Role.compliance_officer], [registrant["id"]])
    for route in console_routes(app):
        if "POST" not in (route.methods or set()) or route.path in _OPEN:
            continue
        answer = await browser.post(_path(route), data={"csrf_token": "forged"})
        assert answer.status_code == 403, (route.path, answer.status_code)
        assert "not sent from a page of your session" in answer.text, route.path
