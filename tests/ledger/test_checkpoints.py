"""Signed checkpoints: made by the worker, verifiable with the served keys, across rotation."""

import json
from typing import Any

import pytest

from app.auth.tokens import StatementInvalid, public_jwk, verify_statement
from app.ledger.keys import new_private_pem, thumbprint
from app.worker import Worker
from tests.conftest import bearer


async def _checkpoints(clinic) -> list[dict[str, Any]]:
    response = await clinic.client.get(
        "/v1/ledger/checkpoints",
        params={"registrant_id": clinic.registrant.id},
        headers=bearer(clinic.officer_token),
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _sign(app, clock) -> None:
    await Worker(app.state.database, app.state.settings, clock).run_until_idle()


async def test_the_worker_signs_the_tree_once_per_size(clinic, app, clock):
    for _ in range(3):
        await clinic.post(clinic.event("receipt", "1"))
    await _sign(app, clock)
    await _sign(app, clock)
    [checkpoint] = await _checkpoints(clinic)
    assert checkpoint["tree_size"] == 3
    jwks = (await clinic.client.get("/v1/ledger/jwks.json")).json()
    keys = {key["kid"]: key for key in jwks["keys"]}
    payload = verify_statement(checkpoint["jws"], keys)
    assert payload == {
        "registrant_id": clinic.registrant.id,
        "tree_size": 3,
        "root_hash": checkpoint["root_hash"],
        "signed_at": clock.now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    proof = (
        await clinic.client.get(
            "/v1/ledger/proofs/consistency",
            params={"registrant_id": clinic.registrant.id, "from": 3},
            headers=bearer(clinic.nurse_token),
        )
    ).json()
    assert proof["to_root"] == checkpoint["root_hash"]


async def test_a_forged_checkpoint_does_not_verify(clinic, app, clock):
    await clinic.post(clinic.event("receipt", "1"))
    await _sign(app, clock)
    [checkpoint] = await _checkpoints(clinic)
    header, payload, signature = checkpoint["jws"].split(".")
    other_pem = new_private_pem()
    jwks = (await clinic.client.get("/v1/ledger/jwks.json")).json()
    keys = {key["kid"]: key for key in jwks["keys"]}
    with pytest.raises(StatementInvalid):
        verify_statement(f"{header}.{payload}.{signature[::-1]}", keys)
    impostor = public_jwk(other_pem, kid=checkpoint["kid"])
    with pytest.raises(StatementInvalid):
        verify_statement(checkpoint["jws"], {checkpoint["kid"]: impostor})


async def test_rotated_keys_stay_published(client, app, tmp_path):
    old = public_jwk(new_private_pem(), kid="")
    old["kid"] = thumbprint(old)
    retired = tmp_path / "retired.json"
    retired.write_text(json.dumps({"keys": [old]}))
    app.state.settings = app.state.settings.model_copy(
        update={"checkpoint_retired_jwks_file": retired}
    )
    kids = [key["kid"] for key in (await client.get("/v1/ledger/jwks.json")).json()["keys"]]
    assert len(kids) == 2
    assert kids[1] == old["kid"]
