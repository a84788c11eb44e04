"""PDMP files (ASAP 4.2A) on both databases: a day's fills, a zero report in every shape, a
void, the state profile a setting; every file through the validator. Files are read as
previews, which are the files submitted but for their control number and file type (see
test_submissions.py)."""

from datetime import date
from typing import get_args

import pytest

from app.core.config import Settings
from app.reports.pdmp import asap
from tests.conftest import bearer
from tests.factories import assert_problem, create_registrant
from tests.ledger.support import reversal_body
from tests.pharmacy.dispensary import Dispensary
from tests.reports.pdmp.asap_validator import Invalid, parse, validate
from tests.reports.pdmp.support import PREVIEW, filled, officer
from tests.reports.pdmp.support import preview as pdmp


async def test_a_days_fills_of_a_compound(dispensary: Dispensary):
    rx = await filled(dispensary, date(2026, 3, 2))
    response = await pdmp(dispensary, "2026-03-02")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    file = validate(response.text)
    [pha] = file.named("PHA")
    [pat] = file.named("PAT")
    [dsp] = file.named("DSP")
    [pre] = file.named("PRE")
    assert (pat[7], pat[8], pat[12], pat[18], pat[19]) == (
        "Lovelace", "Ada", "100 Main St", "19801210", "F",
    )  # fmt: skip
    assert dsp[1:14] == ["00", rx["rx_number"], "20260302", "5", "20260302", "0", "06", "99999",
                         "30", "30", "01", "05", "00"]  # fmt: skip
    assert dsp[14] == "1245319599"
    assert (pre[1], pre[2], pre[5], pre[6]) == (
        "1245319599", dispensary.prescriber_dea_number, "Hopper", "Grace",
    )  # fmt: skip
    # 30 troches, each of 115.3 mg ketamine HCl, 0.9 g of base and 2.5 mg of flavouring.
    assert [cdi[1:] for cdi in file.named("CDI")] == [
        ["1", "01", "99999", "3.459", "03"], ["2", "01", "99999", "27", "03"],
        ["3", "01", "99999", "0.075", "03"],
    ]  # fmt: skip
    assert pha[3] == (await dispensary.get(f"/v1/registrants/{dispensary.id}")).json()[
        "dea_number"]  # fmt: skip


async def test_a_day_without_fills_is_a_zero_report(dispensary: Dispensary):
    text = (await pdmp(dispensary, "2026-03-01")).text
    file = validate(text)
    # The shape the states' dispenser guides show: PAT, DSP with the day, an empty PRE.
    assert [s[0] for s in file.segments] == ["TH", "IS", "PHA", "PAT", "DSP", "PRE", "TP", "TT"]
    [pat], [dsp], [pre] = file.named("PAT"), file.named("DSP"), file.named("PRE")
    assert (pat[7], pat[8], dsp[5], pre) == ("REPORT", "ZERO", "20260301", ["PRE", ""])
    assert text.endswith("~PRE*~TP*5~TT*000000000*8~")


async def test_a_day_not_yet_over_is_not_reported(dispensary: Dispensary):
    problem = assert_problem(await pdmp(dispensary, "2026-03-02"), 422, "invalid-input")
    assert problem["errors"][0]["parameter"] == "date"


async def test_a_fill_reversed_later_is_voided_on_the_day_of_its_reversal(dispensary: Dispensary):
    rx = await filled(dispensary, date(2026, 3, 2))
    dispensary.on(date(2026, 3, 4))
    undone = await dispensary.client.post(
        "/v1/ledger/events",
        json=reversal_body(dispensary.id, rx["fill"]["event_id"],
                           dispensary.clock.now().isoformat()),
        headers=bearer(officer(dispensary)) | {"Idempotency-Key": "void-1"},
    )  # fmt: skip
    assert undone.status_code == 201, undone.text
    dispensary.on(date(2026, 3, 5))
    file = validate((await pdmp(dispensary, "2026-03-04")).text)
    [dsp] = file.named("DSP")
    # The void matches the original: Rx number, fill date, quantity and refill number.
    assert (dsp[1], dsp[2], dsp[5], dsp[9], dsp[6]) == ("02", rx["rx_number"], "20260302", "30",
                                                        "0")  # fmt: skip
    [pat] = validate((await pdmp(dispensary, "2026-03-03")).text).named("PAT")
    assert (pat[7], pat[8]) == ("REPORT", "ZERO")


async def test_a_fill_reversed_the_day_it_was_made_is_not_reported(dispensary: Dispensary):
    rx = await filled(dispensary, date(2026, 3, 2))
    undone = await dispensary.client.post(
        "/v1/ledger/events",
        json=reversal_body(dispensary.id, rx["fill"]["event_id"], "2026-03-02T22:00:00Z"),
        headers=bearer(officer(dispensary)) | {"Idempotency-Key": "void-same-day"},
    )  # fmt: skip
    assert undone.status_code == 201, undone.text
    file = validate((await pdmp(dispensary, "2026-03-02")).text)
    [pat] = file.named("PAT")
    assert (pat[7], pat[8]) == ("REPORT", "ZERO")


@pytest.mark.parametrize(
    ("shape", "detail"),
    [
        ("pat_dsp_pre", ["PAT", "DSP", "PRE"]),
        ("pat_dsp_pre_cdi_air", ["PAT", "DSP", "PRE", "CDI", "AIR"]),
        ("pat_dsp", ["PAT", "DSP"]),
        ("header_only", []),
    ],
)
async def test_every_shape_of_a_zero_report_is_a_valid_file(
    dispensary: Dispensary, app, shape, detail
):
    app.state.settings = app.state.settings.model_copy(update={"pdmp_zero_report": shape})
    text = (await pdmp(dispensary, "2026-03-01")).text
    file = validate(text)
    assert [s[0] for s in file.segments] == ["TH", "IS", "PHA", *detail, "TP", "TT"]
    # TP counts PHA to TP; TT every segment, TH to TT.
    assert text.endswith(f"~TP*{len(detail) + 2}~TT*000000000*{len(detail) + 5}~")
    for empty in detail[2:]:
        assert f"~{empty}*~" in text


def test_the_zero_report_shapes_of_the_settings_are_those_asap_writes():
    setting = Settings.model_fields["pdmp_zero_report"]
    assert set(get_args(setting.annotation)) == set(asap.ZeroReport)
    assert setting.default == asap.Profile().zero_report


async def test_the_state_profile_is_a_setting(dispensary: Dispensary, app):
    """(The file type, TH07, is a setting too: see test_submissions.py, since a preview is
    always a test file.)"""
    app.state.settings = app.state.settings.model_copy(update={
        "pdmp_segment_terminator": "^", "pdmp_zero_report": "header_only"})  # fmt: skip
    text = (await pdmp(dispensary, "2026-03-01")).text
    file = validate(text)
    assert file.terminator == "^"
    assert [s[0] for s in file.segments] == ["TH", "IS", "PHA", "TP", "TT"]
    assert "~" not in text


def test_the_validator_refuses_what_is_wrong():
    good = ("TH*4.2A*000000001*01**20260302*100000*P**~~IS*1*X~PHA***FK0000012*X~"
            "PAT*******REPORT*ZERO~DSP*****20260302~PRE*~TP*5~TT*000000001*8~")  # fmt: skip
    validate(good)
    validate(good.replace("PRE*~TP*5~TT*000000001*8", "TP*4~TT*000000001*7"))
    validate(good.replace("PRE*~TP*5~TT*000000001*8", "PRE*~CDI*~AIR*~TP*7~TT*000000001*10"))
    for wrong in (good.replace("TP*5", "TP*6"), good.replace("TT*000000001", "TT*000000002"),
                  good.replace("*8~", "*9~"), good.replace("FK0000012", "FK0000013"),
                  good.replace("~PRE*~", "~PRE*1245319599~"),
                  good.replace("~PRE*~TP*5", "~PRE*~CDI*1~TP*6").replace("*8~", "*9~"),
                  good.replace("~PRE*~TP*5", "~CDI*~TP*5"),
                  good.replace("~DSP*****20260302~PRE*~", "~PRE*~DSP*****20260302~"),
                  good.replace("*REPORT*", "*DOE*"), good.replace("PAT*", "PAT*1"),
                  good.replace("20260302~PRE", "2026032~PRE"), good[:-1]):  # fmt: skip
        with pytest.raises(Invalid):
            validate(wrong)
    assert parse(good).terminator == "~"


async def test_only_a_pharmacy_and_only_its_officers(dispensary: Dispensary, admin_token):
    clinic_officer = dispensary.make_token(["compliance_officer"], [dispensary.clinic_id],
                                           sub="officer-clinic")  # fmt: skip
    refused = await dispensary.client.get(PREVIEW, params={"registrant_id": dispensary.clinic_id,
                                                        "date": "2026-03-02"},
                                          headers=bearer(clinic_officer))  # fmt: skip
    assert_problem(refused, 422, "not-a-pharmacy")
    stranger = await create_registrant(dispensary.client, admin_token)
    elsewhere = dispensary.make_token(["compliance_officer"], [stranger["id"]], sub="other")
    assert_problem(await pdmp(dispensary, "2026-03-02", elsewhere), 404, "not-found")


async def test_partial_fills_of_one_filling_are_numbered(dispensary: Dispensary):
    """Ten troches on 2 March and the other twenty on 10 March: partial fills 01 and 02 of the
    original filling (DSP13)."""
    rx = await dispensary.receive()
    for day, quantity in ((date(2026, 3, 2), "10"), (date(2026, 3, 10), "20")):
        body = dispensary.fill_body(dispensary.on(day), quantity)
        response = await dispensary.fill(rx, body)
        assert response.status_code == 201, response.text
    dispensary.on(date(2026, 3, 11))
    numbers = []
    for reported in ("2026-03-02", "2026-03-10"):
        [dsp] = validate((await pdmp(dispensary, reported)).text).named("DSP")
        numbers.append((dsp[6], dsp[9], dsp[13]))
    assert numbers == [("0", "10", "01"), ("0", "20", "02")]
