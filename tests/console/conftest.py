"""Console tests: browsers signed in through a development sign-in link, each with a cookie
jar of its own, talking to the real app over ASGI."""

import html
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from app.auth.permissions import Role
from app.console import links
from app.core.config import Environment, Settings
from tests.console.browser import demo_served, launch
from tests.served import Served

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


# The browser tests' (test_browser*.py): each module gets a browser and the demo, served by
# uvicorn on its own copy of the database with the worker in its process, as `make run` does.


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


@pytest.fixture(scope="module")
def demo_settings(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("console-demo")
    shutil.copyfile(sqlite_template, folder / "demo.db")
    return Settings(
        environment=Environment.test,
        database_url=f"sqlite+aiosqlite:///{folder / 'demo.db'}",
        development_key_dir=folder / "keys",
        worker_in_process=True,  # the nightly run, the checkpoints, the verifications
        worker_poll_seconds=0.2,
    )


@pytest.fixture(scope="module")
def served(demo_settings: Settings) -> Iterator[Served]:
    yield from demo_served(demo_settings)
