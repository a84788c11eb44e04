from tests.conftest import bearer
from tests.factories import create_registrant, patient_body


async def test_registrant_and_patient_round_trip(client, admin_token, token):
    registrant = await create_registrant(client, admin_token)
    clinician = token(["clinician"], [registrant["id"]])
    created = await client.post(
        "/v1/patients", json=patient_body(registrant["id"]), headers=bearer(clinician)
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/v1/patients/{created.json()['id']}"
    assert created.json()["weight_kg"] == "70.5"
    fetched = await client.get(created.headers["location"], headers=bearer(clinician))
    assert fetched.status_code == 200
    assert fetched.json()["created_at"].endswith("Z") or "+00:00" in fetched.json()["created_at"]
