"""The ledger and integrity pages in a real browser, on the demo: a lot's running balance at
the clinic's Main vault, one of its events in a signed checkpoint, and a verification run."""

from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from app.auth.permissions import Role
from app.core.config import Settings
from tests.console.browser import accessible, photograph, sign_in
from tests.console.conftest import claims
from tests.served import Served

STAFF_ROLES = [Role.pharmacist, Role.clinician, Role.prescriber, Role.compliance_officer]
WAIT_SECONDS = 20


def staff(browser: Browser, served: Served, demo_settings: Settings) -> Page:
    person = claims(STAFF_ROLES, served.demo.ids, sub="demo-staff", name="Demo User")
    return sign_in(browser, served, demo_settings, person)


def choose(page: Page, select: str, text: str) -> None:
    """The option of ``select`` whose words hold ``text`` (labels carry more: kind, expiry)."""
    value = page.locator(f"{select} option", has_text=text).first.get_attribute("value")
    assert value
    page.locator(select).select_option(value)


def reload_until(page: Page, text: str) -> None:
    """Reload until ``text`` shows (the in-process worker signs checkpoints as it starts)."""
    for _ in range(WAIT_SECONDS * 5):
        if page.get_by_text(text, exact=True).count():
            return
        page.wait_for_timeout(200)
        page.reload()


def test_a_lots_running_balance_an_event_in_a_checkpoint_and_a_verification(
    browser: Browser, served: Served, demo_settings: Settings, tmp_path: Path
) -> None:
    page = staff(browser, served, demo_settings)
    page.goto(f"/console/ledger?registrant_id={served.demo.clinic_id}")
    expect(
        page.get_by_role("heading", name="Ledger · Hill Country Ketamine Clinic")
    ).to_be_visible()
    choose(page, "#location_id", "Main vault")
    choose(page, "#lot_id", "HB24017A")
    page.get_by_role("button", name="Show the ledger").click()
    expect(page.get_by_role("heading", name="Lot HB24017A at Main vault")).to_be_visible()
    table = page.locator("table.ledger")
    movements = table.locator("tbody tr:not(.edge)")
    assert movements.count() >= 2
    balances = movements.locator("td:nth-child(9)").all_inner_texts()  # after each movement
    assert len(balances) == movements.count()
    closing = table.locator("tbody tr.edge").last
    expect(closing).to_contain_text("Closing balance")
    assert closing.locator("td strong").inner_text() == balances[-1]
    accessible(page)
    photograph(page, "ledger", tmp_path)

    movements.first.get_by_role("link").click()
    expect(page.get_by_role("heading", name="On the chain")).to_be_visible()
    reload_until(page, "verified")
    expect(page.get_by_text("verified", exact=True)).to_be_visible()
    expect(page.get_by_text("csledger verify --file ledger.jsonl", exact=False)).to_be_visible()
    accessible(page)
    photograph(page, "ledger-event", tmp_path)

    page.get_by_role("link", name="Integrity").click()
    expect(
        page.get_by_role("heading", name="Integrity · Hill Country Ketamine Clinic")
    ).to_be_visible()
    checkpoints = page.get_by_role("table", name="The newest 20, newest first")
    expect(checkpoints.locator("tbody tr").first).to_contain_text("CST")  # one signed, when
    expect(page.get_by_role("table", name="Current and retired keys")).to_contain_text("ES256")
    accessible(page)
    photograph(page, "integrity", tmp_path)

    page.get_by_role("button", name="Verify now").click()
    expect(
        page.get_by_role("heading", name="Verification of Hill Country Ketamine Clinic's ledger")
    ).to_be_visible()
    # htmx asks again every second until the worker has run it.
    expect(page.get_by_text("verified", exact=True)).to_be_visible(timeout=WAIT_SECONDS * 1000)
    expect(page.get_by_text("every signature verifies", exact=False)).to_be_visible()
    accessible(page)
    photograph(page, "verification", tmp_path)
