"""The audit log: every write (committed with it), patient read and refusal; append-only."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import bearer
from tests.factories import create_registrant, patient_body, registrant_body
from tests.ledger.conftest import open_clinic
from tests.ledger.support import appended


async def test_a_write_is_audited_with_who_what_and_outcome(client, admin_token, probe):
    response = await client.post(
        "/v1/registrants", json=registrant_body(), headers=bearer(admin_token)
    )
    [row] = await probe.audit_rows(response.headers["x-request-id"])
    assert row.kind == "write"
    assert (row.subject, row.subject_name, row.roles) == (
        "platform-admin",
        "Platform Admin",
        ["admin"],
    )
    assert (row.method, row.route, row.action) == ("POST", "/v1/registrants", "create_registrant")
    assert row.status_code == 201
    assert row.resource_id == response.json()["id"]


async def test_reading_reference_data_is_not_audited(client, admin_token, probe):
    await create_registrant(client, admin_token)
    before = await probe.audit_count()
    assert (await client.get("/v1/registrants", headers=bearer(admin_token))).status_code == 200
    assert await probe.audit_count() == before


async def test_reading_a_patient_is_audited_without_patient_data(client, admin_token, token, probe):
    registrant = await create_registrant(client, admin_token)
    clinician = token(["clinician"], [registrant["id"]])
    created = await client.post(
        "/v1/patients",
        json=patient_body(registrant["id"], family_name="Zzyzx"),
        headers=bearer(clinician),
    )
    read = await client.get(created.headers["location"], headers=bearer(clinician))
    [row] = await probe.audit_rows(read.headers["x-request-id"])
    assert row.kind == "patient_read"
    assert str(row.registrant_id) == registrant["id"]
    assert row.resource_id == created.json()["id"]
    assert "Zzyzx" not in repr(tuple(row))


async def test_a_refused_write_leaves_only_its_audit_row(client, admin_token, probe):
    before = await probe.business_rows()
    response = await client.post(
        "/v1/registrants",
        json=registrant_body(dea_number="AP5836728"),
        headers=bearer(admin_token),
    )
    assert response.status_code == 422
    assert await probe.business_rows() == before
    [row] = await probe.audit_rows(response.headers["x-request-id"])
    assert (row.kind, row.status_code) == ("refused", 422)
    assert row.problem_type == "urn:csledger:problem:invalid-input"


async def test_an_unauthenticated_attempt_is_audited(client, probe):
    response = await client.get("/v1/patients?registrant_id=x")
    [row] = await probe.audit_rows(response.headers["x-request-id"])
    assert (row.kind, row.status_code, row.subject) == ("refused", 401, None)
    assert row.parameters == {"registrant_id": ["x"]}


async def test_operational_endpoints_are_not_audited(client, probe):
    await client.get("/healthz")
    await client.get("/metrics")
    assert await probe.audit_count() == 0


@pytest.mark.parametrize(
    "statement",
    ["UPDATE audit_log SET status_code = 200", "DELETE FROM audit_log"],
)
async def test_the_audit_log_refuses_changes(client, admin_token, probe, statement):
    await create_registrant(client, admin_token)
    with pytest.raises(DBAPIError, match="append-only"):
        async with probe.engine.begin() as connection:
            await connection.execute(text(statement))
    assert await probe.audit_count() == 1


@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_the_audit_log_refuses_truncate(client, admin_token, probe):
    await create_registrant(client, admin_token)
    with pytest.raises(DBAPIError, match="append-only"):
        async with probe.engine.begin() as connection:
            await connection.execute(text("TRUNCATE audit_log"))
    assert await probe.audit_count() == 1


@pytest.mark.fresh_database
@pytest.mark.parametrize("dialect", ["postgresql"], indirect=True)
async def test_a_write_whose_commit_fails_leaves_nothing_but_its_error_row(
    client, admin_token, probe
):
    """A successful write's row commits with the change; when that commit fails, the row
    goes with it, and the error gets a row of its own."""
    async with probe.engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql"
                " AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
            )
        )
        await connection.execute(
            text(
                "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON registrants"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()"
            )
        )
    response = await client.post(
        "/v1/registrants", json=registrant_body(), headers=bearer(admin_token)
    )
    assert response.status_code == 500
    [row] = await probe.audit_rows(response.headers["x-request-id"])
    assert (row.kind, row.status_code, row.action) == ("error", 500, "create_registrant")
    assert (await probe.business_rows())["registrants"] == []


async def test_a_ledger_event_naming_its_patient_is_a_patient_read(
    client, admin_token, token, probe
):
    """Its snapshot holds the patient's name, address and birth date: whoever is shown them
    read patient data; whoever is not (the patient withheld) read reference data."""
    clinic = await open_clinic(client, admin_token, token)
    await appended(clinic, clinic.event("receipt", "10"))
    given = await appended(clinic, clinic.event("administer", "1", patient_id=clinic.patient.id))
    path = f"/v1/ledger/events/{given['id']}"
    listed = {"registrant_id": clinic.id, "patient_id": clinic.patient.id}
    for reader, kind in ((clinic.nurse_token, "patient_read"), (clinic.officer_token, None)):
        for answer in (await client.get(path, headers=bearer(reader)),
                       await client.get("/v1/ledger/events", params=listed,
                                        headers=bearer(reader))):  # fmt: skip
            assert answer.status_code == 200, answer.text
            rows = await probe.audit_rows(answer.headers["x-request-id"])
            assert [(row.kind, str(row.registrant_id)) for row in rows] == (
                [(kind, clinic.id)] if kind else []
            )
