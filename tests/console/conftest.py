"""Console tests: browsers signed in through a development sign-in link, each with a cookie
jar of its own, talking to the real app over ASGI."""

import html
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from app.auth.permissions import Role
from app.console import links

SignIn = Callable[..., Awaitable[httpx.AsyncClient]]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def claims(roles: list[Role] | list[str], registrants: list[Any], *, sub: str | None = None,
           name: str = "Test User") -> dict[str, Any]:  # fmt: skip
    return {
        "sub": sub or f"user-{uuid.uuid4().hex[:8]}",
        "name": name,
        "roles": [str(r) for r in roles],
        "registrants": [str(r) for r in registrants],
    }


async def sign_in_link(app: Any, granted: dict[str, Any], return_to: str = "/console/") -> str:
    return await links.mint(app.state.database, app.state.settings, granted,
                            now=app.state.clock.now(), return_to=return_to)  # fmt: skip


@pytest.fixture
async def signed_in(app: Any) -> AsyncIterator[SignIn]:
    """``await signed_in(roles, registrants, sub=..., name=...)``: a browser of its own,
    signed in to the console as that person."""
    opened: list[httpx.AsyncClient] = []

    async def sign_in(roles: list[Role] | list[str], registrants: list[Any], **who: Any):
        browser = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                    base_url="http://csledger.test")  # fmt: skip
        opened.append(browser)
        answer = await browser.get(await sign_in_link(app, claims(roles, registrants, **who)))
        assert answer.status_code == 303, answer.text
        return browser

    yield sign_in
    for browser in opened:
        await browser.aclose()


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, "the page holds no form token"
    return found.group(1)


def shown(page: httpx.Response) -> str:
    """The page's text as a person reads it: tags dropped, white space collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())
