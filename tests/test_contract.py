"""The service answers as its OpenAPI document says, and a client generated from the document
works, against a real server with the demo loaded.

The schemathesis run covers every operation, for an admin and for the demo staff.

Each run has a time budget (``RUN_SECONDS``): the examples phase (each example of the
document), the coverage phase (boundaries, missing and unsupported methods) and fuzzing, as
far as the budget goes. The two runs go to the two xdist workers side by side.
"""

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from app.auth.permissions import Role
from tests.conftest import TokenFactory
from tests.served import Served, serving

DOCUMENT = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"
CLIENT_CONFIG = DOCUMENT.with_name("client-config.yaml")
"""The generator's configuration the README gives integrators (a CSV body taken as a file)."""
RUN_SECONDS = int(os.environ.get("CSLEDGER_CONTRACT_SECONDS", "25"))
SEED = int(os.environ.get("CSLEDGER_CONTRACT_SEED", "20260302"))

EXCLUDED_CHECKS = {
    "positive_data_acceptance": (
        "a body the schema allows may still be refused, 422, for what a schema cannot say: an "
        "id of another registrant or of nothing, a rule across fields (a receipt needs its "
        "counterparty, a refill its reason)"
    ),
    "missing_required_header": (
        "a missing Idempotency-Key is 428 Precondition Required (RFC 6585), documented on "
        "each operation needing one; this check accepts only 400, 401, 403, 406, 415 or 422 "
        "(test_openapi.py holds the 428 and the header documented together)"
    ),
    "use_after_free": "stateful, like the next: the stateful phase is not run (no links)",
    "ensure_resource_availability": "stateful",
}
"""Every check schemathesis has runs, except these, each for its reason."""


def config(served: Served, token: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "seed": SEED,
        "max-time": RUN_SECONDS,
        "base-url": served.url,
        "headers": {"Authorization": f"Bearer {token}"},
        "workers": 1,
        "generation": {"max-examples": 5},
        "phases": {"stateful": {"enabled": False}},
        "checks": {name: {"enabled": False} for name in EXCLUDED_CHECKS},
    })  # fmt: skip


def failures(run: Iterator[events.EngineEvent]) -> list[str]:
    """Each failed check once per operation, and every error of the run."""
    found: dict[tuple[str, str], str] = {}
    for event in run:
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            recorder = event.recorder
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    info = check.failure_info
                    if check.status is Status.FAILURE and info is not None:
                        operation = recorder.cases[case_id].value.operation.label
                        what = f"{info.failure.title}: {info.failure.message} ({info.code_sample})"
                        found.setdefault((check.name, operation), what)
        elif isinstance(event, events.NonFatalError):
            found.setdefault(("error", event.label), repr(event.value))
        elif isinstance(event, events.FatalError):
            found.setdefault(("fatal", "run"), repr(event.exception))
    return [f"{check} {operation}: {what}" for (check, operation), what in sorted(found.items())]


@pytest.fixture
def served(app_settings) -> Iterator[Served]:
    with serving(app_settings) as found:
        yield found


def token_of(who: str, served: Served, token: TokenFactory) -> str:
    if who == "admin":
        return token([Role.admin], ["*"], sub="platform-admin", name="Platform Admin")
    roles = [Role.pharmacist, Role.clinician, Role.prescriber, Role.compliance_officer]
    return token(roles, served.demo.ids, sub="demo-staff", name="Demo User")


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
@pytest.mark.parametrize("who", ["admin", "staff"])
def test_every_answer_is_one_the_document_describes(served: Served, token, who: str) -> None:
    schema = schemathesis.openapi.from_url(
        f"{served.url}/openapi.json", config=config(served, token_of(who, served, token))
    )

    found: list[Any] = failures(schemathesis.engine.from_schema(schema).execute())

    assert found == [], f"seed {SEED}:\n" + "\n".join(found)


def generate_client(output: Path) -> str:
    """openapi-python-client's output for openapi/openapi.json into ``output``; any warning it
    gives fails. Its hooks format the code with ruff, found beside this Python."""
    tools = Path(sys.executable).parent
    done = subprocess.run(  # noqa: S603 (our own tool, our own arguments)
        [tools / "openapi-python-client", "generate", "--path", DOCUMENT, "--meta", "none",
         "--output-path", output, "--config", CLIENT_CONFIG, "--fail-on-warning"],
        capture_output=True, text=True, timeout=120, check=False,
        env=os.environ | {"PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"},
    )  # fmt: skip
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "warning" not in said.lower(), said
    return said


@pytest.fixture
def generated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The generated client's package name, importable for the test and forgotten after."""
    generate_client(tmp_path / "csledger_client")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "csledger_client"
    for module in [name for name in sys.modules if name.split(".")[0] == "csledger_client"]:
        del sys.modules[module]


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_a_client_generated_from_the_document_builds_cleanly_and_calls_the_service(
    served: Served, admin_token: str, generated: str
) -> None:
    package = importlib.import_module(generated)
    create_registrant = importlib.import_module(f"{generated}.api.registrants.create_registrant")
    list_registrants = importlib.import_module(f"{generated}.api.registrants.list_registrants")
    models = importlib.import_module(f"{generated}.models")
    example = json_example("RegistrantCreate")

    with package.AuthenticatedClient(base_url=served.url, token=admin_token) as client:
        body = models.RegistrantCreate.from_dict(example)
        created = create_registrant.sync(client=client, body=body)
        page = list_registrants.sync(client=client, limit=50)

    assert isinstance(created, models.RegistrantOut), created
    assert created.name == example["name"]
    assert created.kind == models.RegistrantKind.CLINIC
    assert isinstance(page, models.RegistrantPage), page
    listed = {registrant.id for registrant in page.items}
    assert {created.id, *served.demo.ids} <= listed


def json_example(schema_name: str) -> dict[str, Any]:
    document = json.loads(DOCUMENT.read_text())
    example: dict[str, Any] = document["components"]["schemas"][schema_name]["examples"][0]
    return example
