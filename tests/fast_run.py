"""The fast run, `pytest -m "not slow"`: no TensorFlow, no Keras, a few minutes (issue 17).

Deselecting a test does not stop pytest from importing its module, and six trainer test
modules import Keras when they are imported. Such a module marks all its tests slow with a
module-level `pytestmark = pytest.mark.slow`; when the marker expression leaves out every slow
test, the module is not collected at all (`pytest_ignore_collect` in conftest.py). At the end of
such a run a TensorFlow or Keras in `sys.modules` fails it, naming the test that imported it.
A run that may select slow tests (CI's plain `pytest`) is left exactly as it was.
"""

from __future__ import annotations

import ast
import itertools
import re
import sys
from pathlib import Path

BACKENDS = ("tensorflow", "keras")
# The words of pytest's `-m` grammar; every other token names a marker.
_OPERATORS = {"and", "or", "not", "(", ")"}
_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_MAX_NAMES = 8  # 2**8 evaluations at most; longer expressions are not analysed


def excludes_slow(markexpr: str) -> bool:
    """True when `-m markexpr` deselects every test marked slow, whatever its other markers.

    Example: excludes_slow("not slow") is True, excludes_slow("not slow or browser") is False.
    Anything this does not understand (keyword arguments, long expressions) counts as False,
    so the worst a misreading can do is import a slow module.
    """
    tokens = _TOKEN.findall(markexpr)
    if not tokens or any(("=" in t or '"' in t or "'" in t) for t in tokens):
        return False
    names = sorted({t for t in tokens if t not in _OPERATORS} - {"slow"})
    if len(names) > _MAX_NAMES:
        return False
    for values in itertools.product((False, True), repeat=len(names)):
        truth = dict(zip(names, values, strict=True)) | {"slow": True}
        python = " ".join(t if t in _OPERATORS else str(truth[t]) for t in tokens)
        try:
            if eval(python, {"__builtins__": {}}):  # only True/False/and/or/not/()
                return False
        except SyntaxError:
            return False
    return True


def module_is_slow(path: Path) -> bool:
    """True when a test module says `pytestmark = pytest.mark.slow` (or lists it) at top level."""
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError):
        return False  # let pytest import it and report the problem
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytestmark" for target in node.targets
        ):
            marks = (
                node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
            )
            return any(ast.unparse(mark) == "pytest.mark.slow" for mark in marks)
    return False


def loaded_backends() -> list[str]:
    """The deep-learning backends this process has imported so far."""
    return [name for name in BACKENDS if name in sys.modules]
