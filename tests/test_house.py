"""The house rules a reader relies on, held by tests: no module of the app grows past what one
reads in a sitting (split by concept instead; CONTRIBUTING.md, "Layout and layering"). The
layers themselves are import-linter's contract in pyproject.toml, run by `make lint`."""

from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"
MOST_LINES = 400


def test_no_module_of_the_app_is_over_400_lines():
    lengths = {str(path.relative_to(APP)): len(path.read_text().splitlines())
               for path in APP.rglob("*.py")}  # fmt: skip
    assert {path: n for path, n in lengths.items() if n > MOST_LINES} == {}
    assert len(lengths) > 100  # the walk found the app


def test_routes_declare_what_they_audit_rather_than_note_it_by_hand():
    """A route says what its audit rows are about once, with ``@audited`` above its endpoint;
    ``note`` is left to what only the request knows (a FHIR record stored under an id the
    path does not carry; a report dependency shared by many routes; whether the ledger events
    answered name a patient)."""
    noted = {str(path.relative_to(APP)): path.read_text().count("note(request")
             for path in APP.rglob("router.py")}  # fmt: skip
    assert {path: n for path, n in noted.items() if n} == {
        "integrations/fhir/router.py": 1,
        "ledger/router.py": 1,
        "reports/router.py": 1,
    }
