"""The discrepancy queue and a case in a real browser, on the demo: an officer who did none of
the work opens the demo's short count from the dashboard, assigns it, writes on it,
acknowledges it and resolves it; the queue no longer lists it as worked."""

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from app.auth.permissions import Role
from app.core.config import Settings
from tests.console.browser import accessible, photograph, sign_in
from tests.console.conftest import claims
from tests.served import Served

SHORT_COUNT = "Count of lot HB24017A at Main vault short by 0.1 mL"


def officer(browser: Browser, served: Served, demo_settings: Settings) -> Page:
    """A compliance officer of the clinic who is none of its staff: the work is not theirs."""
    who = claims([Role.compliance_officer], [served.demo.clinic_id], sub="officer-visiting",
                 name="Vera Visiting")  # fmt: skip
    return sign_in(browser, served, demo_settings, who)


def short_count_found(page: Page) -> None:
    """The worker runs yesterday's reconciliation when the service starts: wait for it."""
    for _ in range(50):
        if page.get_by_text("short by 0.1 mL").count():
            return
        page.wait_for_timeout(200)
        page.reload()


def test_an_officer_works_the_short_count_from_the_dashboard_to_resolved(
    browser: Browser, served: Served, demo_settings: Settings, tmp_path: Path
) -> None:
    page = officer(browser, served, demo_settings)
    expect(page.get_by_role("heading", name="Hill Country Ketamine Clinic")).to_be_visible()
    short_count_found(page)

    page.get_by_role("link", name="The whole queue").click()
    expect(
        page.get_by_role("heading", name="Discrepancies at Hill Country Ketamine Clinic")
    ).to_be_visible()
    expect(page.get_by_role("link", name=SHORT_COUNT)).to_be_visible()
    accessible(page)
    photograph(page, "discrepancy-queue", tmp_path)

    page.goto(f"/console/?registrant_id={served.demo.clinic_id}")
    page.get_by_role("link", name=SHORT_COUNT).click()
    expect(page.get_by_role("heading", name=SHORT_COUNT)).to_be_visible()
    expect(page.get_by_text("count variance").first).to_be_visible()
    expect(page.get_by_text("Never assigned.")).to_be_visible()
    accessible(page)

    page.get_by_label("Assign to").select_option(label="Owen Patel (compliance officer)")
    page.get_by_role("button", name="Assign").click()
    expect(page.get_by_text("To Owen Patel, by Vera Visiting")).to_be_visible()

    page.get_by_label("A note (kept as written)").fill("Recounted with Grace: one vial's residue.")
    page.get_by_role("button", name="Add the note").click()
    expect(page.get_by_text("Recounted with Grace: one vial's residue.")).to_be_visible()

    page.get_by_role("button", name="Acknowledge").click()
    expect(page.get_by_role("cell", name="open → acknowledged")).to_be_visible()
    accessible(page)
    photograph(page, "discrepancy-case", tmp_path)

    page.get_by_label("Reason code").select_option("count_error")
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("cell", name="acknowledged → resolved")).to_be_visible()
    expect(page.get_by_role("heading", name="Move it")).to_have_count(0)

    page.get_by_role("link", name="The queue at Hill Country Ketamine Clinic").click()
    expect(page.get_by_role("link", name=SHORT_COUNT)).to_have_count(0)
    page.get_by_label("Status").select_option(label="Every status")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name=SHORT_COUNT)).to_be_visible()
    accessible(page)


def test_the_demo_staff_is_refused_the_work_of_their_own_clinic(
    browser: Browser, served: Served, demo_settings: Settings
) -> None:
    """A clinician has no queue: the menu does not offer it, and its address answers 403."""
    nurse = claims([Role.clinician], [served.demo.clinic_id], sub="demo-clinic-nurse")
    page = sign_in(browser, served, demo_settings, nurse)
    expect(page.get_by_role("link", name="Discrepancies")).to_have_count(0)
    answer = page.goto("/console/discrepancies")
    assert answer is not None
    assert answer.status == 403
    expect(page.get_by_role("heading", name="Permission denied")).to_be_visible()
    accessible(page)
