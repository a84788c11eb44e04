"""The integrity page: running a verification (Post/Redirect/Get to its result), the signed
checkpoints and the signing keys."""

import re

import pytest
from sqlalchemy import func, select

from app.auth.permissions import Role
from app.core.jobs import Job
from app.ledger import keys
from app.worker import Worker
from tests.console.conftest import csrf_of
from tests.ledger.conftest import open_clinic

pytestmark = pytest.mark.usefixtures("dialect")

RESULT = re.compile(r"^/console/integrity/verifications/([0-9a-f-]{36})$")


@pytest.fixture
async def clinic(client, admin_token, token):
    made = await open_clinic(client, admin_token, token, name="Hill Country Ketamine Clinic")
    for quantity in ("100", "5"):
        answer = await made.post(made.event("receipt", quantity))
        assert answer.status_code == 201, answer.text
    return made


async def run_worker(app, clock) -> None:
    await Worker(app.state.database, app.state.settings, clock).run_until_idle()


async def jobs_count(probe) -> int:
    async with probe.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(Job)) or 0)


async def test_an_officer_sees_the_checkpoints_and_the_keys(app, clock, clinic, signed_in):
    await run_worker(app, clock)
    officer = await signed_in([Role.compliance_officer], [clinic.id])
    page = await officer.get(f"/console/integrity?registrant_id={clinic.id}")
    assert page.status_code == 200, page.text
    assert "Integrity · Hill Country Ketamine Clinic" in page.text
    current = keys.published_keys(app.state.settings)[0]
    row = re.search(r"<tr><td class=\"num\">2</td><td class=\"hash\">([0-9a-f]{64})</td>"
                    r"<td>2026-03-02 09:00 CST</td><td class=\"hash\">([^<]+)</td></tr>",
                    page.text)  # fmt: skip
    assert row, page.text
    assert row.group(2) == current["kid"]
    assert current["x"] in page.text
    assert current["y"] in page.text
    assert ">current<" in page.text
    assert "Verify now" in page.text


async def test_a_nurse_may_not_verify_and_another_registrants_officer_finds_nothing(
    client, admin_token, token, clinic, signed_in, probe
):
    nurse = await signed_in([Role.clinician], [clinic.id])
    assert (await nurse.get(f"/console/integrity?registrant_id={clinic.id}")).status_code == 403
    dashboard = await nurse.get(f"/console/?registrant_id={clinic.id}")
    forged = await nurse.post(
        "/console/integrity/verifications",
        data={"csrf_token": csrf_of(dashboard), "registrant_id": clinic.id},
    )
    assert forged.status_code == 403
    other = await open_clinic(client, admin_token, token, name="Other Clinic")
    officer = await signed_in([Role.compliance_officer], [other.id])
    assert (await officer.get(f"/console/integrity?registrant_id={clinic.id}")).status_code == 404
    page = await officer.get(f"/console/integrity?registrant_id={other.id}")
    across = await officer.post(
        "/console/integrity/verifications",
        data={"csrf_token": csrf_of(page), "registrant_id": clinic.id},
    )
    assert across.status_code == 404
    assert await jobs_count(probe) == 0


async def test_a_verification_without_the_form_token_is_refused(clinic, signed_in, probe):
    officer = await signed_in([Role.compliance_officer], [clinic.id])
    answer = await officer.post(
        "/console/integrity/verifications", data={"registrant_id": clinic.id}
    )
    assert answer.status_code == 403
    assert "not sent from a page of your session" in answer.text
    assert await jobs_count(probe) == 0


async def test_a_verification_runs_and_its_page_shows_it_succeed(
    app, clock, clinic, signed_in, probe
):
    await run_worker(app, clock)  # a checkpoint of the two receipts
    officer = await signed_in([Role.compliance_officer], [clinic.id])
    page = await officer.get(f"/console/integrity?registrant_id={clinic.id}")
    started = await officer.post(
        "/console/integrity/verifications",
        data={"csrf_token": csrf_of(page), "registrant_id": clinic.id},
    )
    assert started.status_code == 303, started.text
    found = RESULT.match(started.headers["location"])
    assert found
    [row] = await probe.audit_rows(started.headers["x-request-id"])
    assert (row.kind, str(row.registrant_id)) == ("write", clinic.id)

    waiting = await officer.get(started.headers["location"])
    assert waiting.status_code == 200
    assert ">queued<" in waiting.text
    assert 'hx-trigger="every 1s"' in waiting.text
    assert f'<a href="{started.headers["location"]}">Refresh</a>' in waiting.text

    await run_worker(app, clock)
    partial = await officer.get(started.headers["location"], headers={"HX-Request": "true"})
    assert "<html" not in partial.text
    assert ">verified<" in partial.text
    assert "hx-trigger" not in partial.text  # finished: htmx stops asking
    done = await officer.get(started.headers["location"])
    assert "<dt>Events checked</dt><dd>2</dd>" in done.text
    assert "<dt>Checkpoints checked</dt><dd>1</dd>" in done.text


async def test_a_verification_is_not_found_across_registrants(
    app, clock, client, admin_token, token, clinic, signed_in
):
    officer = await signed_in([Role.compliance_officer], [clinic.id])
    page = await officer.get(f"/console/integrity?registrant_id={clinic.id}")
    started = await officer.post(
        "/console/integrity/verifications",
        data={"csrf_token": csrf_of(page), "registrant_id": clinic.id},
    )
    other = await open_clinic(client, admin_token, token, name="Other Clinic")
    stranger = await signed_in([Role.compliance_officer], [other.id])
    assert (await stranger.get(started.headers["location"])).status_code == 404
