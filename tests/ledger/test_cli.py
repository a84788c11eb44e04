"""``csledger checkpoint`` and ``csledger verify`` against a real ledger."""

import asyncio
import base64
import json

from sqlalchemy import text
from typer.testing import CliRunner, Result

from app.auth.tokens import sign_statement
from app.cli import cli
from app.ledger import keys


async def run(runner: CliRunner, *args: str) -> Result:
    """The command runs its own event loop, so it runs in a thread of its own."""
    return await asyncio.to_thread(lambda: runner.invoke(cli, list(args)))


async def test_checkpoint_then_verify(runner, clinic):
    for _ in range(4):
        await clinic.post(clinic.event("receipt", "1"))
    signed = await run(runner, "checkpoint")
    assert signed.output == "signed 1 checkpoint(s)\n"
    verified = await run(runner, "verify")
    assert verified.exit_code == 0, verified.output
    assert verified.output.endswith(": ok (4 events, 1 checkpoints)\n")


async def test_verify_names_the_first_broken_event_and_fails(runner, clinic, probe, dialect):
    for _ in range(4):
        await clinic.post(clinic.event("receipt", "1"))
    async with probe.engine.begin() as connection:
        if dialect == "sqlite":
            await connection.execute(text("DROP TRIGGER ledger_events_no_delete"))
            await connection.execute(text("DROP TRIGGER ledger_postings_no_delete"))
        else:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        await connection.execute(text("DELETE FROM ledger_postings"))
        await connection.execute(text("DELETE FROM ledger_events WHERE sequence = 3"))
    verified = await run(runner, "verify")
    assert verified.exit_code == 1
    assert "FAILED at 3: sequence 3 is missing" in verified.output


async def _ledger_with_checkpoint(runner, clinic) -> None:
    for _ in range(5):
        await clinic.post(clinic.event("receipt", "1"))
    assert (await run(runner, "checkpoint")).exit_code == 0


async def test_an_export_verifies_offline(runner, clinic, tmp_path):
    await _ledger_with_checkpoint(runner, clinic)
    path = tmp_path / "ledger.jsonl"
    exported = await run(
        runner, "export", "--registrant", clinic.registrant.id, "--output", str(path)
    )
    assert exported.exit_code == 0, exported.output
    kinds = [json.loads(line)["kind"] for line in path.read_text().splitlines()]
    assert kinds == ["header", "key", "checkpoint", *["event"] * 5]
    verified = await run(runner, "verify", "--file", str(path))
    assert verified.exit_code == 0, verified.output
    assert verified.output.endswith(": ok (5 events, 1 checkpoints)\n")


async def test_an_edited_export_names_the_event(runner, clinic, tmp_path):
    await _ledger_with_checkpoint(runner, clinic)
    path = tmp_path / "ledger.jsonl"
    await run(runner, "export", "--registrant", clinic.registrant.id, "--output", str(path))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[5]["body"]["quantity"] = 0  # the event of sequence 3
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    verified = await run(runner, "verify", "--file", str(path))
    assert verified.exit_code == 1
    assert f"FAILED at 3 (event {lines[5]['body']['id']}): hash does not match" in verified.output


async def test_an_export_re_signed_by_a_stranger_fails_against_trusted_keys(
    runner, clinic, tmp_path, app
):
    await _ledger_with_checkpoint(runner, clinic)
    path = tmp_path / "ledger.jsonl"
    await run(runner, "export", "--registrant", clinic.registrant.id, "--output", str(path))
    trusted = tmp_path / "trusted.json"
    trusted.write_text(json.dumps({"keys": keys.published_keys(app.state.settings)}))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    stranger = keys.new_private_pem()
    payload = json.loads(base64.urlsafe_b64decode(lines[2]["jws"].split(".")[1] + "=="))
    lines[2]["jws"] = sign_statement(payload, private_pem=stranger, kid=lines[1]["jwk"]["kid"])
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    verified = await run(runner, "verify", "--file", str(path), "--keys", str(trusted))
    assert verified.exit_code == 1
    assert "signature does not verify" in verified.output
