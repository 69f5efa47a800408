"""The fast run's rules (tests/fast_run.py, issue 17): which `-m` leaves every slow test out, and
which modules say that all their tests are slow."""

from __future__ import annotations

from pathlib import Path

import pytest
from fast_run import excludes_slow, module_is_slow


@pytest.mark.parametrize(
    "markexpr",
    [
        "not slow",
        "not slow and not browser",
        "not (slow or browser)",
        "(not slow)",
        "browser and not slow",
    ],
)
def test_expressions_that_leave_out_every_slow_test(markexpr):
    assert excludes_slow(markexpr)


@pytest.mark.parametrize(
    "markexpr",
    ["", "slow", "browser", "not browser", "not slow or browser", "not slow and x(a=1)", "not ("],
)
def test_expressions_that_may_select_a_slow_test_change_nothing(markexpr):
    """CI's plain `pytest` (an empty expression) must import and run every module as before."""
    assert not excludes_slow(markexpr)


@pytest.mark.parametrize(
    ("source", "slow"),
    [
        ("import pytest\npytestmark = pytest.mark.slow\n", True),
        ("import pytest\npytestmark = [pytest.mark.browser, pytest.mark.slow]\n", True),
        ("import pytest\npytestmark = pytest.mark.browser\n", False),
        ("import pytest\n\n@pytest.mark.slow\ndef test_one():\n    pass\n", False),
        ("this is not python(\n", False),
    ],
    ids=["module-slow", "listed", "other-marker", "one-test-slow", "syntax-error"],
)
def test_a_module_is_slow_only_by_its_top_level_pytestmark(tmp_path: Path, source, slow):
    path = tmp_path / "test_x.py"
    path.write_text(source)
    assert module_is_slow(path) is slow
