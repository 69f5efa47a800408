"""The README's install-and-test command is exactly the one CI runs (.ci/run), checks included."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _command_lines(text: str) -> list[str]:
    return [
        line.strip() for line in text.splitlines() if "pip install -e" in line and "pytest" in line
    ]


def test_readme_test_command_is_what_ci_runs():
    readme = _command_lines((ROOT / "README.md").read_text(encoding="utf-8"))
    ci = _command_lines((ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    assert len(ci) == 1 and readme == ci
    for step in ("ruff check .", "ruff format --check .", "mypy", "pytest"):
        assert f".venv/bin/{step}" in ci[0]
