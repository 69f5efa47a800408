"""Folder names to class names for `curate import`.

Real datasets name their folders `nike_air_max_plus_(tn)`, `New Balance 550` or `Ünïcode`;
class names must be safe folder names (`catalog.check_class_name`). The rule, applied to
every folder without an explicit `--map old=new`:

1. accents are removed (Unicode NFKD, combining marks dropped): `Ünïcode` -> `Unicode`;
2. each run of characters other than ASCII letters, digits, `_`, `-` and `.` becomes one `_`,
   and so does a run of dots (`..`): `nike_air_max_plus_(tn)` -> `nike_air_max_plus__tn_`;
3. leading and trailing `_`, `-` and `.` are stripped, runs of `_` collapse to one:
   `nike_air_max_plus_tn`, `New_Balance_550`; case is kept;
4. the result is cut to 64 characters. A name with nothing left needs `--map`.

A folder whose class differs from an existing class (or another folder's class) only by case
or by `_`, `-` and spaces (`air_max_90` and `Air_Max_90`) is a near-duplicate: it is
reported, and `--map` joins it to the other class.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

from catalog import (
    TEXT_MAX_BYTES,
    InputFileError,
    InvalidClassName,
    check_class_name,
    read_input_file,
)

from .errors import CurationError
from .importer import ImportPlan

_INVALID_RUN = re.compile(r"[^A-Za-z0-9_.-]+|\.{2,}")
_UNDERSCORES = re.compile(r"_{2,}")
_EDGES = "_-."
MAX_NAME = 64


@dataclass(frozen=True)
class ClassMapping:
    """How one folder name becomes a class: `how` is `same`, `cleaned` or `mapped`."""

    folder: str
    class_name: str
    how: str
    similar_to: str | None = None  # an existing class that differs only by case/separators


@dataclass
class ClassMap:
    mappings: list[ClassMapping]
    merged: dict[str, list[str]] = field(default_factory=dict)  # class -> its several folders

    def for_folder(self, folder: str) -> str:
        return next(m.class_name for m in self.mappings if m.folder == folder)

    @property
    def changed(self) -> list[ClassMapping]:
        return [m for m in self.mappings if m.how != "same" or m.similar_to]

    @property
    def near_duplicates(self) -> list[ClassMapping]:
        return [m for m in self.mappings if m.similar_to]


def clean_class_name(folder: str) -> str:
    """The class name the documented rule gives `folder`; raises CurationError if none."""
    ascii_only = "".join(
        c for c in unicodedata.normalize("NFKD", folder) if not unicodedata.combining(c)
    )
    name = _UNDERSCORES.sub("_", _INVALID_RUN.sub("_", ascii_only)).strip(_EDGES)
    name = name[:MAX_NAME].rstrip(_EDGES)
    if not name:
        raise CurationError(
            f"folder {folder!r} gives no usable class name: name its class with --map "
            f"'{folder}=NAME'"
        )
    return check_class_name(name)


def similarity_key(name: str) -> str:
    """`name` lower-cased without `_`, `-` and spaces: equal keys mean near-duplicate names."""
    return re.sub(r"[_\- ]", "", name.lower())


def parse_map_option(text: str, where: str = "--map") -> tuple[str, str]:
    """`old=new` split at the last `=` (class names never contain one)."""
    old, sep, new = text.rpartition("=")
    if not sep or not old or not new.strip():
        raise CurationError(f"{where}: expected FOLDER=CLASS. Received: {text!r}")
    return old, _valid_target(new.strip(), where)


def read_map_file(path: Path) -> dict[str, str]:
    """Lines `old=new`, or a CSV (`.csv`: columns folder,class; a `folder,class` header is skipped).

    Blank lines and lines starting with `#` are skipped.
    """
    try:
        # a FIFO or /dev/zero is refused before it is opened, a huge file before it is read
        text = read_input_file(path, TEXT_MAX_BYTES).decode("utf-8")
    except InputFileError as exc:
        raise CurationError(f"cannot read map file {path}: {exc.detail}") from exc
    except UnicodeDecodeError as exc:
        raise CurationError(f"cannot read map file {path}: not UTF-8 text ({exc.reason})") from exc
    lines = [
        (n, line)
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    mapping: dict[str, str] = {}
    for n, line in lines:
        where = f"{path}:{n}"
        if Path(path).suffix.lower() == ".csv":
            row = next(csv.reader([line]))
            if [c.strip().lower() for c in row] == ["folder", "class"]:
                continue
            if len(row) != 2 or not row[0]:
                raise CurationError(
                    f"{where}: expected two columns folder,class. Received: {line!r}"
                )
            mapping[row[0]] = _valid_target(row[1].strip(), where)
        else:
            old, new = parse_map_option(line, where)
            mapping[old] = new
    return mapping


def _valid_target(name: str, where: str) -> str:
    try:
        return check_class_name(name)
    except InvalidClassName as exc:
        raise CurationError(f"{where}: {exc}") from exc


def plan_class_map(folders: list[str], known: list[str], explicit: dict[str, str]) -> ClassMap:
    """Decide every folder's class: an explicit mapping, the folder name itself, or the
    cleaned name.

    Raises CurationError for a mapping that names no folder (a typo would otherwise be silent).
    """
    unused = sorted(set(explicit) - set(folders))
    if unused:
        raise CurationError(
            f"--map names folders that are not in the dataset: {', '.join(map(repr, unused))}. "
            f"Folders: {', '.join(map(repr, folders[:20]))}{' ...' if len(folders) > 20 else ''}"
        )
    keys = {similarity_key(k): k for k in known}
    mappings = []
    for folder in folders:
        if folder in explicit:
            name, how = explicit[folder], "mapped"
        else:
            name = clean_class_name(folder)
            how = "same" if name == folder else "cleaned"
        similar = keys.setdefault(
            similarity_key(name), name
        )  # known classes first, then earlier folders
        mappings.append(ClassMapping(folder, name, how, similar if similar != name else None))
    merged: dict[str, list[str]] = {}
    for m in mappings:
        merged.setdefault(m.class_name, []).append(m.folder)
    return ClassMap(mappings, {c: f for c, f in merged.items() if len(f) > 1})


def folder_names(plan: ImportPlan) -> list[str]:
    """The distinct class folder names of a plan, sorted."""
    return sorted({item.class_name for item in plan.items})


def apply_class_map(plan: ImportPlan, class_map: ClassMap) -> ImportPlan:
    """The plan with each item's folder name replaced by its class."""
    items = [replace(item, class_name=class_map.for_folder(item.class_name)) for item in plan.items]
    return replace(plan, items=items)


def map_classes(
    plan: ImportPlan, known: list[str], explicit: dict[str, str]
) -> tuple[ImportPlan, ClassMap]:
    """The one call `curate import` makes: decide the mapping and apply it to the plan."""
    class_map = plan_class_map(folder_names(plan), known, explicit)
    return apply_class_map(plan, class_map), class_map


def describe(class_map: ClassMap) -> list[str]:
    """Plain lines for the user: each changed name, near-duplicates and merged folders."""
    lines = []
    for m in class_map.changed:
        line = (
            f"{m.folder!r} -> {m.class_name} ({m.how})"
            if m.how != "same"
            else f"{m.folder!r} -> {m.class_name}"
        )
        if m.similar_to:
            line += (
                f"; differs from the class {m.similar_to} only by case or separators "
                f"(join it with --map '{m.folder}={m.similar_to}')"
            )
        lines.append(line)
    for name, folders in sorted(class_map.merged.items()):
        lines.append(f"folders {', '.join(map(repr, folders))} all become class {name}")
    return lines
