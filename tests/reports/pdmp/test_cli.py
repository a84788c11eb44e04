"""``csledger pdmp`` as a person runs it, in a process of its own: a preview unless asked to
submit, and a submission the API then shows, byte for byte."""

from datetime import date

from tests.ledger.test_cli_process import run
from tests.pharmacy.dispensary import Dispensary
from tests.reports.pdmp.asap_validator import validate
from tests.reports.pdmp.support import SUBMISSIONS, file_of, filled, officer


async def test_csledger_pdmp_previews_unless_asked_to_submit(
    dispensary: Dispensary, app_settings, probe, tmp_path
):
    await filled(dispensary, date(2026, 3, 2))
    day = ["pdmp", "--registrant", dispensary.id, "--date", "2026-03-02"]
    before = await probe.business_rows()
    shown = await run(app_settings, *day)
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr == "a preview: nothing kept\n"
    previewed = validate(shown.stdout)
    assert (previewed.segments[0][2], previewed.segments[0][7]) == ("000000000", "T")
    assert len(previewed.named("DSP")) == 1
    assert await probe.business_rows() == before

    output = tmp_path / "pdmp.txt"
    sent = await run(app_settings, *day, "--submit", "--output", str(output))
    assert sent.returncode == 0, sent.stderr
    listed = await dispensary.get(SUBMISSIONS, officer(dispensary), registrant_id=dispensary.id)
    [made] = listed.json()["items"]
    assert sent.stdout == f"wrote {output} (submission {made['id']}, control number 000000001)\n"
    assert output.read_bytes() == (await file_of(dispensary, made)).content
    assert (made["created_by"], made["status"]) == ("csledger pdmp", "awaiting_response")

    again = await run(app_settings, *day, "--submit")
    assert again.returncode == 1
    assert "control number 000000001: it awaits the state's response" in again.stderr
    loose = await run(app_settings, *day, "--corrects", made["id"])
    assert loose.returncode == 2
    assert "--corrects goes with --submit" in loose.stderr
