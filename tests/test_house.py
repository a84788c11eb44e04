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
