"""Reports and PDMP in a real browser, on the demo: an officer downloads a report as PDF, and
previews then submits a day of the pharmacy's PDMP."""

import shutil
import subprocess
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from app.auth.permissions import Role
from app.core.config import Settings
from tests.console.browser import SCREENSHOTS, accessible, photograph, sign_in
from tests.console.conftest import claims
from tests.served import Served


def officer(served: Served) -> dict[str, object]:
    return claims([Role.compliance_officer], served.demo.ids, sub="demo-officer",
                  name="Olive Officer")  # fmt: skip


def test_an_officer_downloads_a_report_as_pdf(
    browser: Browser, served: Served, demo_settings: Settings, tmp_path: Path
) -> None:
    page = sign_in(browser, served, demo_settings, officer(served))
    page.goto(f"/console/reports?registrant_id={served.demo.clinic_id}")
    expect(
        page.get_by_role("heading", name="Reports of Hill Country Ketamine Clinic")
    ).to_be_visible()
    accessible(page)
    photograph(page, "reports", tmp_path)

    section = page.locator("section#dispensing-log")
    with page.expect_download() as download:
        section.get_by_role("button", name="PDF").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.startswith("dispensing_log-")
    assert saved.suffix == ".pdf"
    assert saved.read_bytes().startswith(b"%PDF")
    _render_first_page(saved, tmp_path)


def _render_first_page(pdf: Path, tmp_path: Path) -> None:
    """The PDF's first page as a PNG (beside the photographs), when pdftoppm is installed."""
    pdftoppm = shutil.which("pdftoppm")
    if pdftoppm is None:
        return
    target = tmp_path / "report-pdf"
    command = [pdftoppm, "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(target)]
    subprocess.run(command, check=True)  # noqa: S603 (the path of an installed tool)
    [png] = tmp_path.glob("report-pdf*.png")
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(png, Path(SCREENSHOTS) / "report-pdf.png")


def test_an_officer_previews_then_submits_a_pdmp_day(
    browser: Browser, served: Served, demo_settings: Settings, tmp_path: Path
) -> None:
    page = sign_in(browser, served, demo_settings, officer(served))
    page.goto(f"/console/pdmp?registrant_id={served.demo.pharmacy_id}")
    expect(page.get_by_role("heading", name="Days the state has not accepted")).to_be_visible()
    accessible(page)
    photograph(page, "pdmp", tmp_path)
    previews = page.get_by_role("link", name="Preview ")
    if previews.count() == 0:
        pytest.skip("the demo's pharmacy has no day to report")
    day = (previews.first.text_content() or "").removeprefix("Preview ").strip()
    previews.first.click()
    expect(page.get_by_role("heading", name=f"PDMP file of {day}")).to_be_visible()
    expect(page.locator("pre.asap")).to_contain_text("TH*4.2A*000000000*")
    accessible(page)
    photograph(page, "pdmp-preview", tmp_path)

    page.get_by_role("button", name=f"Submit {day}").click()
    submission = page.get_by_role("heading", name=f"{day} · file ")
    expect(submission).to_be_visible()
    expect(page.get_by_text("awaiting response").first).to_be_visible()
    accessible(page)
