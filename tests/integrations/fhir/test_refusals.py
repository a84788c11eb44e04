"""Refusals are OperationOutcomes (application/fhir+json) and write nothing but their audit
row: malformed or other-version bodies, unknown references, the wrong caller."""

from typing import Any

import httpx
import orjson
import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from app.core.errors import PROBLEM_TYPE_PREFIX, RETRY_AFTER_SECONDS
from app.integrations.fhir.outcome import FHIR_PATH_PREFIX
from tests.auth.test_tokens import v1_routes
from tests.clinical.ward import Ward, at
from tests.conftest import DatabaseProbe, bearer
from tests.factories import create, staff_body
from tests.integrations.fhir.support import FHIR_JSON, Sender, ketamine_infusion
from tests.outages import logged_unwritten, until_served

PATH = "/v1/fhir/MedicationAdministration"
NOWHERE = "7d0c1d55-7a41-4b4e-8e49-2f6a1b0e9d10"


def infusion(ward: Ward, ehr: Sender) -> dict[str, Any]:
    return ketamine_infusion(mrn=ward.iv_patient.external_id, npi_value=ehr.npi,
                             lot_number=ward.vial_lot.lot_number, start=at(10),
                             end=at(50))  # fmt: skip


async def refused(
    client: httpx.AsyncClient,
    probe: DatabaseProbe,
    body: bytes,
    headers: dict[str, str],
    *,
    status: int,
    code: str,
    problem: str,
    expression: str | None = None,
    params: dict[str, str] | None = None,
    path: str = PATH,
) -> dict[str, Any]:
    """POST ``body``; it must be refused with an OperationOutcome and leave only its audit."""
    before = await probe.business_rows()
    audited = await probe.audit_count()
    response = await client.post(path, content=body, headers=headers, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR_JSON
    outcome = response.json()
    OperationOutcome.model_validate(outcome)
    issue: dict[str, Any] = outcome["issue"][0]
    assert len(outcome["issue"]) == 1
    assert (issue["severity"], issue["code"]) == ("error", code), issue
    assert issue["diagnostics"]
    if expression is not None:
        assert issue["expression"] == [expression], issue
    assert await probe.business_rows() == before
    assert await probe.audit_count() == audited + 1
    [audit] = await probe.audit_rows(response.headers["x-request-id"])
    assert (audit.kind, audit.status_code) == ("refused", status)
    assert audit.problem_type == PROBLEM_TYPE_PREFIX + problem
    return issue


def fhir_headers(sender: Sender, content_type: str = FHIR_JSON) -> dict[str, str]:
    return bearer(sender.token) | {"Content-Type": content_type}


async def test_a_body_that_is_not_json(client, ward, ehr, probe):
    issue = await refused(client, probe, b"MSH|^~\\&|EHR", fhir_headers(ehr), status=422,
                          code="structure", problem="fhir-invalid")  # fmt: skip
    assert issue["diagnostics"].endswith("at line 1, column 1"), issue


async def test_a_body_that_is_not_fhir_json_by_its_media_type(client, ward, ehr, probe):
    body = orjson.dumps(infusion(ward, ehr))
    await refused(client, probe, body, fhir_headers(ehr, "application/fhir+xml"), status=415,
                  code="not-supported", problem="unsupported-media-type")  # fmt: skip


async def test_plain_json_is_taken_like_fhir_json(client, ward, ehr):
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, "1")
    resource = infusion(ward, ehr) | {"context": {"identifier": {
        "system": "urn:csledger:session", "value": ts["id"]}}}  # fmt: skip
    response = await client.post(PATH, content=orjson.dumps(resource),
                                 headers=fhir_headers(ehr, "application/json"))  # fmt: skip
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == FHIR_JSON


async def test_another_resource_type(client, ward, ehr, probe):
    body = orjson.dumps(infusion(ward, ehr) | {"resourceType": "MedicationRequest"})
    await refused(client, probe, body, fhir_headers(ehr), status=422, code="invalid",
                  problem="fhir-invalid", expression="resourceType")  # fmt: skip


async def test_a_resource_that_is_not_valid_r4(client, ward, ehr, probe):
    resource = infusion(ward, ehr)
    del resource["subject"]
    await refused(client, probe, orjson.dumps(resource), fhir_headers(ehr), status=422,
                  code="required", problem="fhir-invalid",
                  expression="MedicationAdministration.subject")  # fmt: skip


async def test_a_dose_that_is_not_a_number(client, ward, ehr, probe):
    resource = infusion(ward, ehr)
    resource["dosage"]["dose"]["value"] = "thirty-five"
    await refused(client, probe, orjson.dumps(resource), fhir_headers(ehr), status=422,
                  code="value", problem="fhir-invalid",
                  expression="MedicationAdministration.dosage.dose.value")  # fmt: skip


@pytest.mark.parametrize(
    "dose",
    [b"1e40", b"9223372036854775807", b"10000000", b"35.0001"],
    ids=["1e40", "int64 max", "above the bound", "finer than thousandths"],
)
async def test_a_dose_no_quantity_could_be(client, ward, ehr, probe, dose):
    """FHIR's decimal is its own (a JSON number); what no quantity could be is its error."""
    body = orjson.dumps(infusion(ward, ehr)).replace(b'"value":35', b'"value":' + dose, 1)
    await refused(client, probe, body, fhir_headers(ehr), status=422, code="value",
                  problem="fhir-invalid",
                  expression="MedicationAdministration.dosage.dose")  # fmt: skip


@pytest.mark.parametrize(
    "dose", [b"1e1000", b"1" + b"0" * 100, b"NaN"], ids=["1e1000", "a googol", "NaN"]
)
async def test_a_number_the_body_may_not_hold(client, ward, ehr, probe, dose):
    body = orjson.dumps(infusion(ward, ehr)).replace(b'"value":35', b'"value":' + dose, 1)
    await refused(client, probe, body, fhir_headers(ehr), status=422, code="structure",
                  problem="fhir-invalid",
                  expression="MedicationAdministration.dosage.dose.value")  # fmt: skip


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00Z", "2100-01-01T00:00:00Z"])
async def test_an_instant_out_of_range(client, ward, ehr, probe, start):
    resource = infusion(ward, ehr)
    resource["effectivePeriod"] = {"start": start}
    await refused(client, probe, orjson.dumps(resource), fhir_headers(ehr), status=422,
                  code="value", problem="fhir-invalid",
                  expression="MedicationAdministration.effectivePeriod.start")  # fmt: skip


async def test_a_key_given_twice(client, ward, ehr, probe):
    body = orjson.dumps(infusion(ward, ehr)).replace(b'"value":35', b'"value":3,"value":35', 1)
    await refused(client, probe, body, fhir_headers(ehr), status=422, code="structure",
                  problem="fhir-invalid",
                  expression="MedicationAdministration.dosage.dose.value")  # fmt: skip


async def test_an_unknown_status(client, ward, ehr, probe):
    resource = infusion(ward, ehr) | {"status": "given"}
    await refused(client, probe, orjson.dumps(resource), fhir_headers(ehr), status=422,
                  code="code-invalid", problem="fhir-invalid",
                  expression="MedicationAdministration.status")  # fmt: skip


async def test_an_r5_shaped_administration(client, ward, ehr, probe):
    resource = infusion(ward, ehr)
    del resource["medicationReference"]
    resource["medication"] = {"reference": {"reference": "#med"}}  # R5's CodeableReference
    resource["occurenceDateTime"] = resource.pop("effectivePeriod")["start"]
    await refused(client, probe, orjson.dumps(resource), fhir_headers(ehr), status=422,
                  code="not-supported", problem="fhir-wrong-version",
                  expression="MedicationAdministration.medication")  # fmt: skip


async def test_a_profile_of_another_version(client, ward, ehr, probe):
    resource = infusion(ward, ehr) | {
        "meta": {
            "profile": ["http://hl7.org/fhir/5.0/StructureDefinition/MedicationAdministration"]
        }
    }
    await refused(client, probe, orjson.dumps(resource), fhir_headers(ehr), status=422,
                  code="not-supported", problem="fhir-wrong-version",
                  expression="meta.profile")  # fmt: skip


async def test_a_media_type_declaring_another_version(client, ward, ehr, probe):
    body = orjson.dumps(infusion(ward, ehr))
    await refused(client, probe, body, fhir_headers(ehr, "application/fhir+json; fhirVersion=5.0"),
                  status=422, code="not-supported", problem="fhir-wrong-version")  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        (lambda r: r["subject"]["identifier"].update(value="MRN-NOBODY"),
         "MedicationAdministration.subject"),
        (lambda r: r["performer"][0]["actor"]["identifier"].update(value="1234567893"),
         "MedicationAdministration.performer"),
        (lambda r: r.update(context={"identifier": {"system": "urn:csledger:session",
                                                    "value": NOWHERE}}),
         "MedicationAdministration.context.identifier"),
    ],
    ids=["patient", "staff", "session"],
)  # fmt: skip
async def test_an_unknown_reference(client, ward, ehr, probe, change, expression):
    resource = infusion(ward, ehr)
    change(resource)
    await refused(client, probe, orjson.dumps(resource), fhir_headers(ehr), status=422,
                  code="not-found", problem="fhir-unknown-reference",
                  expression=expression)  # fmt: skip


async def test_a_performer_whose_npi_two_active_staff_share_is_refused(
    client, admin_token, ward, ehr, probe
):
    """Which of them gave the dose is not the service's guess to make."""
    twin = staff_body(role="nurse", subject=None, name="Frances Field", npi=ehr.npi)
    await create(client, f"/v1/registrants/{ward.id}/staff", twin, admin_token)
    await refused(client, probe, orjson.dumps(infusion(ward, ehr)), fhir_headers(ehr),
                  status=422, code="multiple-matches", problem="fhir-invalid",
                  expression="MedicationAdministration.performer")  # fmt: skip


async def test_a_movement_missing_its_amount(client, ward, ehr, probe):
    resource = infusion(ward, ehr)
    del resource["dosage"]["dose"]
    await refused(client, probe, orjson.dumps(resource), fhir_headers(ehr), status=422,
                  code="required", problem="fhir-invalid",
                  expression="MedicationAdministration.dosage.dose")  # fmt: skip


async def test_a_role_other_than_integration_is_forbidden(client, ward, ehr, probe):
    body = orjson.dumps(infusion(ward, ehr))
    headers = bearer(ward.nurse_token) | {"Content-Type": FHIR_JSON}
    await refused(client, probe, body, headers, status=403, code="forbidden",
                  problem="permission-denied")  # fmt: skip


async def test_a_registrant_the_token_does_not_name_is_not_found(
    client, admin_token, ward, ehr, probe
):
    from tests.factories import create_registrant

    other = await create_registrant(client, admin_token, name="Elsewhere Clinic")
    body = orjson.dumps(infusion(ward, ehr))
    await refused(client, probe, body, fhir_headers(ehr), status=404, code="not-found",
                  problem="not-found", params={"registrant_id": other["id"]})  # fmt: skip


async def test_an_integration_not_enabled_as_a_sender(client, token, ward, ehr, probe):
    stranger = token(["integration"], [ward.id], sub="unknown-ehr")
    headers = bearer(stranger) | {"Content-Type": FHIR_JSON}
    await refused(client, probe, orjson.dumps(infusion(ward, ehr)), headers, status=403,
                  code="forbidden", problem="fhir-sender-not-configured")  # fmt: skip


async def test_no_token(client, ward, ehr, probe):
    body = orjson.dumps(infusion(ward, ehr))
    await refused(client, probe, body, {"Content-Type": FHIR_JSON}, status=401, code="login",
                  problem="unauthenticated")  # fmt: skip


async def test_a_body_too_large(client, app_settings, ward, ehr, probe):
    body = b" " * (app_settings.max_body_bytes + 1)
    await refused(client, probe, body, fhir_headers(ehr), status=413, code="too-long",
                  problem="payload-too-large")  # fmt: skip


async def test_reading_an_unknown_resource(client, ward, ehr):
    response = await client.get(f"{PATH}/{NOWHERE}",
                                headers=bearer(ehr.token))  # fmt: skip
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == FHIR_JSON
    assert response.json()["issue"][0]["code"] == "not-found"


async def test_errors_elsewhere_stay_problem_details(client, ward):
    response = await client.get("/v1/sessions/not-an-id", headers=bearer(ward.nurse_token))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_every_fhir_route_needs_a_token(app, client, probe):
    routes = v1_routes(app, prefix=FHIR_PATH_PREFIX)
    assert len(routes) == 6
    for method, path in routes:
        audited = await probe.audit_count()
        response = await client.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == FHIR_JSON
        assert response.headers["www-authenticate"].startswith("Bearer ")
        assert response.json()["issue"][0]["code"] == "login"
        assert await probe.audit_count() == audited + 1


async def test_a_key_replayed_for_another_registrant_never_answers_the_first(
    client, admin_token, token, ward, ehr, dispensary, probe
):
    """One EHR subject at two registrants, one Idempotency-Key: the same body sent for B (or
    by a token naming only B) is refused as reused, never answered with A's resource."""
    both = token(["integration"], [ward.id, dispensary.id], sub="ehr-1", name="Hospital EHR")
    await create(client, "/v1/integrations/fhir-senders",
                 {"registrant_id": dispensary.id, "subject": "ehr-1",
                  "location_id": dispensary.shelf.id}, admin_token)  # fmt: skip
    move = {"registrant_id": ward.id, "type": "move", "location_id": ward.vault.id,
            "to_location_id": ward.room.id, "lot_id": ward.vial_lot.id, "quantity": "2",
            "occurred_at": at(0)}  # fmt: skip
    assert (await ward.post("/v1/ledger/events", move)).status_code == 201
    body = orjson.dumps(infusion(ward, ehr))
    keyed = bearer(both) | {"Content-Type": FHIR_JSON, "Idempotency-Key": "ma-1"}
    first = await client.post(PATH, content=body, headers=keyed, params={"registrant_id": ward.id})
    assert first.status_code == 201, first.text
    only_b = token(["integration"], [dispensary.id], sub="ehr-1", name="Hospital EHR")
    for headers, params in [
        (keyed, {"registrant_id": dispensary.id}),
        (keyed | bearer(only_b), {"registrant_id": ward.id}),
    ]:
        before = await probe.business_rows()
        again = await client.post(PATH, content=body, headers=headers, params=params)
        assert again.status_code == 422, again.text
        assert first.json()["id"] not in again.text
        assert await probe.business_rows() == before


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_a_database_restarting_is_a_transient_outcome_and_the_retry_is_stored(
    ward, ehr, proxy, proxied, caplog
):
    """The database cut off at the Idempotency-Key's claim (a restart): 503 as an
    OperationOutcome, Retry-After; the same request again, once it is back, is stored."""
    ts = await ward.open_session("iv")
    await ward.withdraw(ts, "1")
    body = orjson.dumps(ketamine_infusion(
        mrn=ward.iv_patient.external_id, npi_value=ehr.npi,
        lot_number=ward.vial_lot.lot_number, start=at(10), end=at(50), session_id=ts["id"],
    ))  # fmt: skip
    headers = fhir_headers(ehr) | {"Idempotency-Key": "infusion-during-a-restart"}
    proxy.cut_at(b"pg_try_advisory_xact_lock", delivered=False)
    response = await proxied.post(PATH, content=body, headers=headers)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == FHIR_JSON
    assert response.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    outcome = response.json()
    OperationOutcome.model_validate(outcome)
    [issue] = outcome["issue"]
    assert (issue["severity"], issue["code"]) == ("fatal", "transient")
    logged_unwritten(caplog, response)
    proxy.restore()
    stored = await until_served(lambda: proxied.post(PATH, content=body, headers=headers))
    assert stored.status_code == 201, stored.text
