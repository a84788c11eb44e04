"""Signing in with a development link, the session cookie, idling, expiry and signing out."""

from datetime import timedelta

import httpx
import pytest

from app.auth.permissions import Role
from app.console.web import COOKIE
from app.console.work import purge_dead
from app.main import create_app
from tests.console.conftest import claims, csrf_of, sign_in_link
from tests.factories import create_registrant
from tests.ledger.test_cli_process import run

pytestmark = pytest.mark.usefixtures("dialect")


@pytest.fixture
async def registrant_id(client, admin_token) -> str:
    return str((await create_registrant(client, admin_token))["id"])


async def test_a_link_signs_in_once(app, client, registrant_id) -> None:
    link = await sign_in_link(app, claims([Role.compliance_officer], [registrant_id]))
    first = await client.get(link)
    assert first.status_code == 303
    assert first.headers["location"] == "/console/"
    cookie = first.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # only in production, which serves over HTTPS
    dashboard = await client.get("/console/")
    assert dashboard.status_code == 200
    assert "Test User" in dashboard.text
    again = await httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url)).get(
        link
    )
    assert again.status_code == 401
    assert "expired or was used" in again.text


async def test_a_link_expires(app, client, clock, registrant_id) -> None:
    link = await sign_in_link(app, claims([Role.compliance_officer], [registrant_id]))
    clock.advance(timedelta(minutes=app.state.settings.console_sign_in_link_minutes))
    answer = await client.get(link)
    assert answer.status_code == 401
    assert COOKIE not in answer.headers.get("set-cookie", "")


async def test_a_page_without_a_session_sends_the_browser_to_sign_in(client) -> None:
    answer = await client.get("/console/", params={"registrant_id": "x"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=%2Fconsole%2F%3Fregistrant_id%3Dx"
    partial = await client.get("/console/", headers={"HX-Request": "true"})
    assert partial.status_code == 204
    assert partial.headers["HX-Redirect"].startswith("/console/sign-in?next=")
    page = await client.get("/console/sign-in")
    assert page.status_code == 200
    assert "csledger sign-in-link" in page.text


async def test_a_forged_cookie_opens_nothing(client) -> None:
    client.cookies.set(COOKIE, "not-a-session", domain="csledger.test", path="/console")
    assert (await client.get("/console/")).status_code == 303


async def test_a_session_idles_out_and_expires(app, signed_in, clock, registrant_id) -> None:
    settings = app.state.settings
    browser = await signed_in([Role.compliance_officer], [registrant_id])
    clock.advance(timedelta(minutes=settings.console_idle_minutes - 1))
    assert (await browser.get("/console/")).status_code == 200  # its use is noted
    clock.advance(timedelta(minutes=settings.console_idle_minutes - 1))
    assert (await browser.get("/console/")).status_code == 200
    clock.advance(timedelta(minutes=settings.console_idle_minutes))
    assert (await browser.get("/console/")).status_code == 303

    busy = await signed_in([Role.compliance_officer], [registrant_id])
    for _ in range(int(settings.console_session_hours * 60 / 20)):
        clock.advance(timedelta(minutes=20))
        answer = await busy.get("/console/")
    assert answer.status_code == 303  # a shift's length, however busy


async def test_signing_out_ends_the_session_on_the_server(signed_in, registrant_id) -> None:
    browser = await signed_in([Role.compliance_officer], [registrant_id])
    page = await browser.get("/console/")
    kept = browser.cookies[COOKIE]
    forged = await browser.post("/console/sign-out", data={"csrf_token": "guessed"})
    assert forged.status_code == 403
    assert (await browser.get("/console/")).status_code == 200  # still signed in
    out = await browser.post("/console/sign-out", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 303
    assert out.headers["location"] == "/console/sign-in?signed_out=1"
    assert COOKIE not in browser.cookies
    browser.cookies.set(COOKIE, kept, domain="csledger.test", path="/console")  # a copy kept
    assert (await browser.get("/console/")).status_code == 303


async def test_claims_no_api_token_could_carry_open_no_session(app, client, registrant_id) -> None:
    for granted in (
        claims([], [registrant_id]),
        claims([Role.compliance_officer], ["not-a-uuid"]),
        claims([Role.compliance_officer], ["*"]),  # "*" is an admin-only token's
    ):
        answer = await client.get(await sign_in_link(app, granted))
        assert answer.status_code == 403, granted
        assert "may not use csledger" in answer.text
        assert COOKIE not in answer.headers.get("set-cookie", "")


async def test_a_sign_in_is_in_each_trail_and_its_ticket_in_none(
    app, client, probe, registrant_id
) -> None:
    link = await sign_in_link(app, claims([Role.compliance_officer], [registrant_id], sub="o-1"))
    answer = await client.get(link)
    rows = await probe.audit_rows(answer.headers["x-request-id"])
    assert [(r.kind, r.subject, str(r.registrant_id)) for r in rows] == [
        ("sign_in", "o-1", registrant_id)
    ]
    assert "ticket" not in rows[0].parameters


async def test_return_to_stays_on_the_console(app, client, registrant_id) -> None:
    granted = claims([Role.compliance_officer], [registrant_id])
    kept = "/console/discrepancies?x=1"
    away = ("https://evil.example/", "//evil.example/", "/console\\\\evil", "/consoles")
    for target, expected in ((kept, kept), *((target, "/console/") for target in away)):
        answer = await httpx.AsyncClient(
            transport=client._transport, base_url=str(client.base_url)
        ).get(await sign_in_link(app, granted, return_to=target))
        assert answer.headers["location"] == expected


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_the_database_going_away_is_a_page_not_a_crash(
    app_settings, database_url, proxy, clock, registrant_id
) -> None:
    settings = app_settings.model_copy(update={"database_url": proxy.url(database_url)})
    application = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://csledger.test") as c:
            granted = claims([Role.compliance_officer], [registrant_id])
            assert (await c.get(await sign_in_link(application, granted))).status_code == 303
            proxy.cut_at(b"registrants", delivered=False)
            page = await c.get("/console/")
            assert page.status_code == 503
            assert page.headers["content-type"].startswith("text/html")
            assert "Service unavailable" in page.text or "unavailable" in page.text.lower()
            proxy.restore()
            assert (await c.get("/console/")).status_code == 200
    finally:
        await application.state.database.dispose()


async def test_the_worker_forgets_what_can_sign_no_one_in(app, signed_in, clock, registrant_id):
    """Ended, expired and idle sessions, used and expired links: deleted; a live session and
    an unused link in time: kept, and still working."""
    settings = app.state.settings
    out = await signed_in([Role.compliance_officer], [registrant_id])
    page = await out.get("/console/")
    await out.post("/console/sign-out", data={"csrf_token": csrf_of(page)})
    await signed_in([Role.compliance_officer], [registrant_id])  # idles out below
    await sign_in_link(app, claims([Role.clinician], [registrant_id]))  # expires below
    clock.advance(timedelta(minutes=settings.console_idle_minutes))
    live = await signed_in([Role.compliance_officer], [registrant_id])
    unused = await sign_in_link(app, claims([Role.clinician], [registrant_id]))
    async with app.state.database.transaction() as db:
        purged = await purge_dead(db, now=clock.now(), settings=settings)
    # Sessions: the signed-out one and the idle one. Sign-ins: the three links used, and the
    # one left until it expired.
    assert purged == {"sessions": 2, "sign_ins": 4}
    assert (await live.get("/console/")).status_code == 200
    async with app_client(app) as browser:
        assert (await browser.get(unused)).status_code == 303


def app_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://csledger.test"
    )


async def test_the_csledger_command_prints_a_link_that_signs_in_once(
    app, app_settings, client, registrant_id
) -> None:
    """``csledger sign-in-link`` as a person runs it: the executable in a process of its own."""
    done = await run(app_settings, "sign-in-link", "--sub", "olive", "--name", "Olive Officer",
                     "--role", "compliance_officer", "--registrant", registrant_id)  # fmt: skip
    assert done.returncode == 0, done.stderr
    link = done.stdout.strip()
    assert link.startswith("http://127.0.0.1:8000/console/sign-in/link?ticket=")
    path = link.removeprefix("http://127.0.0.1:8000")
    assert (await client.get(path)).status_code == 303
    assert "Olive Officer" in (await client.get("/console/")).text
    assert (await client.get(path)).status_code == 401  # once
    refused = await run(app_settings, "sign-in-link")  # no demo here, no one named
    assert refused.returncode == 1
    assert "no demo here" in refused.stderr
