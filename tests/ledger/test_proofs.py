"""Inclusion and consistency proofs served by the API verify against its roots."""

from typing import Any

from app.ledger import merkle
from tests.conftest import bearer
from tests.factories import assert_problem


async def _receipts(clinic, count: int) -> list[dict[str, Any]]:
    return [(await clinic.post(clinic.event("receipt", "1"))).json() for _ in range(count)]


async def test_an_inclusion_proof_verifies_against_the_root(clinic):
    events = await _receipts(clinic, 7)
    for event in (events[0], events[4], events[6]):
        response = await clinic.client.get(
            "/v1/ledger/proofs/inclusion",
            params={"event_id": event["id"]},
            headers=bearer(clinic.nurse_token),
        )
        assert response.status_code == 200, response.text
        proof = response.json()
        assert (proof["leaf_index"], proof["tree_size"]) == (event["sequence"] - 1, 7)
        assert merkle.verify_inclusion(
            merkle.leaf_hash(bytes.fromhex(event["hash"])),
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(p) for p in proof["audit_path"]],
            bytes.fromhex(proof["root_hash"]),
        )


async def test_a_consistency_proof_links_an_old_root_to_the_new(clinic):
    await _receipts(clinic, 3)
    params = {"registrant_id": clinic.registrant.id, "from": 3}
    earlier = (
        await clinic.client.get(
            "/v1/ledger/proofs/consistency", params=params, headers=bearer(clinic.nurse_token)
        )
    ).json()
    await _receipts(clinic, 6)
    response = await clinic.client.get(
        "/v1/ledger/proofs/consistency", params=params, headers=bearer(clinic.nurse_token)
    )
    proof = response.json()
    assert (proof["from"], proof["to"], proof["from_root"]) == (3, 9, earlier["to_root"])
    assert merkle.verify_consistency(
        3,
        9,
        bytes.fromhex(proof["from_root"]),
        bytes.fromhex(proof["to_root"]),
        [bytes.fromhex(p) for p in proof["proof"]],
    )


async def test_a_tree_larger_than_the_ledger_is_refused(clinic):
    [event] = await _receipts(clinic, 1)
    response = await clinic.client.get(
        "/v1/ledger/proofs/inclusion",
        params={"event_id": event["id"], "tree_size": 2},
        headers=bearer(clinic.nurse_token),
    )
    assert_problem(response, 422, "invalid-input", parameter="tree_size")
