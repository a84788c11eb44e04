"""The staff page in a real browser, on the demo, as a compliance officer: charts drawn on the
server, the same numbers in tables, the demo's staff by name."""

from pathlib import Path

from playwright.sync_api import Browser, expect

from app.auth.permissions import Role
from app.core.config import Settings
from tests.console.browser import accessible, photograph, sign_in
from tests.console.conftest import claims
from tests.served import Served


def test_the_officer_compares_the_clinics_staff_with_their_peers(
    browser: Browser, served: Served, demo_settings: Settings, tmp_path: Path
) -> None:
    officer = claims([Role.compliance_officer], [served.demo.clinic_id],
                     sub="demo-clinic-compliance", name="Owen Patel")  # fmt: skip
    page = sign_in(browser, served, demo_settings, officer)
    page.get_by_role("navigation", name="Areas").get_by_role("link", name="Staff and peers").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Staff and their peers")
    # The esketamine kits the demo's sessions used, by the clinician who ran them: a chart per
    # measure, each followed by its table.
    kit = page.locator("#product option", has_text="Spravato").first.text_content()
    assert kit is not None
    page.get_by_label("Product").select_option(label=kit.strip())
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_label("Product")).to_have_value(
        page.locator("#product option", has_text="Spravato").first.get_attribute("value") or ""
    )
    charts = page.locator("svg.chart[role=img]")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 3
    wasted = page.get_by_role("table", name="Wasted per session", exact=False)
    expect(wasted.get_by_role("rowheader", name="Marcus Hale, RN")).to_be_visible()
    expect(wasted).to_contain_text("not compared")
    expect(page.get_by_role("img", name="Wasted per session", exact=False)).to_be_visible()
    expect(page.get_by_role("table", name="Discrepancies opened per week and rule")).to_be_visible()
    accessible(page)
    photograph(page, "staff", tmp_path)
