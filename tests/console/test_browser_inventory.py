"""An inventory of the demo clinic's Main vault taken in a real browser: started from the
list, counted lot by lot (a count that differs from the ledger shows its variance in the row,
without the page reloading), witnessed from a second browser by another clinician, signed."""

from decimal import Decimal
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from app.auth.permissions import Role
from app.core.config import Settings
from tests.console.browser import accessible, photograph, sign_in
from tests.console.conftest import claims
from tests.served import Served

VAULT = "Main vault"
NURSE = ("demo-clinic-nurse", "Grace Kim, RN")
"""Who takes the inventory: the demo clinic's nurse, signed in with a clinician's role."""
WITNESS = ("demo-clinic-clinician", "Marcus Hale, RN")


def clinician(
    browser: Browser, served: Served, demo_settings: Settings, who: tuple[str, str]
) -> Page:
    sub, name = who
    granted = claims([Role.clinician], [served.demo.clinic_id], sub=sub, name=name)
    return sign_in(browser, served, demo_settings, granted)


def held_in_the_vault(page: Page, served: Served) -> dict[str, Decimal]:
    """What the ledger holds of each lot in the Main vault, as the dashboard shows it."""
    page.goto(f"/console/?registrant_id={served.demo.clinic_id}")
    held = {}
    for row in page.locator("section[aria-labelledby=stock] tbody tr").all():
        cells = [cell.inner_text().strip() for cell in row.locator("td").all()]
        if cells[0] == VAULT:
            quantity, _unit = cells[4].split()  # "246 mL"
            held[cells[2]] = Decimal(quantity)
    assert held, "the demo keeps stock in its Main vault"
    return held


def count(page: Page, lot: str, quantity: Decimal) -> None:
    row = page.get_by_role("row").filter(has=page.get_by_label(f"Count of lot {lot}"))
    row.get_by_label(f"Count of lot {lot}").fill(str(quantity))
    row.get_by_role("button", name="Count", exact=True).click()
    expect(row.get_by_role("button", name="Count again")).to_be_visible()


def test_an_inventory_of_the_main_vault_is_counted_witnessed_and_signed(
    browser: Browser, served: Served, demo_settings: Settings, tmp_path: Path
) -> None:
    page = clinician(browser, served, demo_settings, NURSE)
    held = held_in_the_vault(page, served)

    page.goto(f"/console/inventories?registrant_id={served.demo.clinic_id}")
    expect(page.get_by_role("heading", name="Start an inventory")).to_be_visible()
    accessible(page)
    photograph(page, "inventories", tmp_path)
    for place in page.locator("input[name=location_id]").all():
        label = page.locator(f"label:has(input[value='{place.get_attribute('value')}'])")
        if not label.inner_text().startswith(VAULT):
            place.uncheck()
    page.get_by_role("button", name="Start the inventory").click()
    expect(page.get_by_role("heading", name="Ad hoc inventory as of")).to_be_visible()
    expect(page.get_by_role("table", name=VAULT)).to_be_visible()
    expect(page.get_by_text("shown once counted").first).to_be_visible()  # a blind count

    short, *rest = sorted(held)
    page.evaluate("window.stillThisPage = true")  # gone if the page were loaded again
    count(page, short, held[short] + 1)  # one more found than the ledger holds
    row = page.get_by_role("row").filter(has=page.get_by_label(f"Count of lot {short}"))
    expect(row.locator(".variance")).to_have_text("+1")
    expect(row.locator("td.num").first).to_have_text(str(held[short]))
    expect(page.get_by_text("required before signing")).to_be_visible()
    history = page.get_by_role("table", name="Every step, oldest first")
    expect(history.get_by_role("cell", name=f"lot {short} at {VAULT}", exact=False)).to_be_visible()
    expect(page.get_by_role("table", name=VAULT).get_by_role("row")).to_have_count(len(held) + 1)
    assert page.evaluate("window.stillThisPage") is True
    accessible(page)
    photograph(page, "inventory-count-sheet", tmp_path)

    wrong = page.get_by_role("row").filter(has=page.get_by_label(f"Count of lot {rest[0]}"))
    wrong.get_by_label(f"Count of lot {rest[0]}").fill("1,5")
    wrong.get_by_role("button", name="Count", exact=True).click()
    expect(wrong.get_by_role("alert")).to_contain_text("'1,5' is not a quantity")
    assert page.evaluate("window.stillThisPage") is True
    accessible(page)

    for lot in rest:
        count(page, lot, held[lot])
        matched = page.get_by_role("row").filter(has=page.get_by_label(f"Count of lot {lot}"))
        expect(matched.get_by_text("none", exact=True)).to_be_visible()
    expect(page.get_by_text(f"0 of {len(held)} lots")).to_be_visible()
    sheet_url = page.url

    witness = clinician(browser, served, demo_settings, WITNESS)
    witness.goto(sheet_url)
    witness.get_by_role("button", name="Witness this inventory").click()
    expect(witness.locator("#inventory-standing")).to_contain_text(WITNESS[1])

    page.reload()
    page.get_by_role("button", name="Sign the inventory").click()
    expect(page.get_by_text(f"Signed by {NURSE[1]}")).to_be_visible()
    expect(page.locator("#inventory-standing")).to_contain_text("signed")
    expect(page.get_by_role("cell", name="witnessed", exact=True)).to_be_visible()
    accessible(page)
    photograph(page, "inventory-signed", tmp_path)

    page.goto(f"/console/inventories?registrant_id={served.demo.clinic_id}")
    expect(page.get_by_role("row").filter(has_text=NURSE[1]).first).to_contain_text("signed")
