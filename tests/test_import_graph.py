"""The packages' imports, read from their source with `ast` (nothing is imported): no cycles
between modules, and `crawler`, `curation` and `trainer` talk only through `catalog` (issue 17).

Imports under `if TYPE_CHECKING:` are left out (they never run); imports inside functions count,
since a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import fnmatch
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("crawler", "curation", "trainer")
CATALOG = "catalog"


def _packages() -> list[str]:
    """The installed top-level packages: pyproject's `packages.find` patterns, matched here."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted(
        d.name
        for d in ROOT.iterdir()
        if (d / "__init__.py").is_file() and any(fnmatch.fnmatch(d.name, p) for p in patterns)
    )


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the module imported (a submodule when a `from` names one)
    line: int


def _modules() -> dict[str, Path]:
    found = {}
    for package in _packages():
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                yield from _import_nodes(other)
        else:
            yield from _import_nodes(child)


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        parts = parts if is_package else parts[:-1]
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    return [f"{base}.{alias.name}" for alias in node.names] + [base]


def _imports(modules: dict[str, Path]) -> list[Import]:
    """Every import between the packages' modules, each (importer, target) once."""
    seen: dict[tuple[str, str], Import] = {}
    for module, path in modules.items():
        for node in _import_nodes(ast.parse(path.read_bytes())):
            names = _targets(module, path.name == "__init__.py", node)
            if isinstance(node, ast.ImportFrom):
                # `from pkg import name`: the submodule pkg.name when there is one, else pkg.
                submodules = [n for n in names[:-1] if n in modules]
                names = (
                    submodules if len(submodules) == len(names) - 1 else [*submodules, names[-1]]
                )
            for name in names:
                while name not in modules and "." in name:
                    name = name.rsplit(".", 1)[0]
                if name in modules and name != module:
                    seen.setdefault((module, name), Import(module, name, node.lineno))
    return sorted(seen.values(), key=lambda i: (i.importer, i.target))


MODULES = _modules()
IMPORTS = _imports(MODULES)


def _package(module: str) -> str:
    return module.split(".")[0]


def _cycles(imports: list[Import]) -> list[list[str]]:
    """One cycle (a path that ends where it starts) per strongly connected group of modules."""
    graph: dict[str, list[str]] = {}
    for imp in imports:
        graph.setdefault(imp.importer, []).append(imp.target)
    cycles = []
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path = _path_back(graph, start)
        if path:
            cycles.append(path)
            done.update(path)
    return cycles


def _path_back(graph: dict[str, list[str]], start: str) -> list[str] | None:
    """The shortest import path from `start` back to itself, or None."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in graph.get(module, []):
                if target == start:
                    path = [module]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target not in came_from:
                    came_from[target] = module
                    following.append(target)
        frontier = following
    return None


def _describe(imports: list[Import]) -> str:
    return "\n".join(f"{i.importer} (line {i.line}) imports {i.target}" for i in imports)


def test_the_walk_sees_every_package_and_its_imports():
    """A walk that found nothing would pass every rule below."""
    assert {CATALOG, *STAGES} <= {_package(m) for m in MODULES}
    pairs = {(i.importer, i.target) for i in IMPORTS}
    assert {("crawler.cli", "crawler.crawl"), ("trainer.evaluate", "trainer.layers")} <= pairs
    for stage in STAGES:
        assert any(_package(i.importer) == stage and i.target == CATALOG for i in IMPORTS), stage


def test_no_import_cycles_between_modules():
    cycles = _cycles(IMPORTS)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_stage_imports_another_and_the_catalog_imports_no_stage():
    """crawler, curation and trainer depend on catalog and on nothing of each other."""
    crossing = [
        i
        for i in IMPORTS
        if _package(i.target) in STAGES and _package(i.importer) != _package(i.target)
    ]
    assert crossing == [], _describe(crossing)


def test_stages_use_only_the_catalogs_public_api():
    """A stage imports `from catalog import ...`, never a catalog submodule."""
    deep = [
        i
        for i in IMPORTS
        if _package(i.importer) in STAGES and _package(i.target) == CATALOG and i.target != CATALOG
    ]
    assert deep == [], _describe(deep)


def test_test_helpers_are_imported_by_their_path_under_tests():
    """One way (issue 17): `from imagegen import ...`, `from curation_tests.nearcopies import ...`
    with `pythonpath = ["tests"]`; no relative imports, no sys.path edits, no bare name of a
    helper that lives in a subfolder (it only worked while a conftest edited sys.path)."""
    tests = ROOT / "tests"
    nested = {p.stem for p in tests.glob("*/*.py")} - {p.stem for p in tests.glob("*.py")}
    wrong = []
    for path in sorted(tests.rglob("*.py")):
        tree = ast.parse(path.read_bytes())
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                wrong.append(f"{where}:{node.lineno}: relative import")
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            wrong += [f"{where}:{node.lineno}: {n}" for n in names if n.split(".")[0] in nested]
            if isinstance(node, ast.Attribute) and ast.unparse(node) in (
                "sys.path.insert",
                "sys.path.append",
            ):
                wrong.append(f"{where}:{node.lineno}: sys.path edit")
    assert wrong == []
