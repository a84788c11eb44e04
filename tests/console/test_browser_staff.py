"""The staff page in a real browser, on the demo, as a compliance officer: charts drawn on the
server, the same numbers in tables, the demo's staff by name."""

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from app.auth.permissions import Role
from app.core.config import Environment, Settings
from tests.console.browser import accessible, demo_served, launch, photograph, sign_in
from tests.console.conftest import claims
from tests.served import Served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    yield from launch()


@pytest.fixture(scope="module")
def settings(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("console-staff")
    shutil.copyfile(sqlite_template, folder / "demo.db")
    return Settings(
        environment=Environment.test,
        database_url=f"sqlite+aiosqlite:///{folder / 'demo.db'}",
        development_key_dir=folder / "keys",
        worker_in_process=True,  # the nightly run finds the demo's short count
        worker_poll_seconds=0.2,
    )


@pytest.fixture(scope="module")
def served(settings: Settings) -> Iterator[Served]:
    yield from demo_served(settings)


def test_the_officer_compares_the_clinics_staff_with_their_peers(
    browser: Browser, served: Served, settings: Settings, tmp_path: Path
) -> None:
    officer = claims([Role.compliance_officer], [served.demo.clinic_id],
                     sub="demo-clinic-compliance", name="Owen Patel")  # fmt: skip
    page = sign_in(browser, served, settings, officer)
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
