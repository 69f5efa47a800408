"""Reading `train predict`'s tab-separated lines in tests."""

from __future__ import annotations


def ranked_classes(line: str) -> list[str]:
    """The classes of one output line, best first.

    `PATH<tab>cls p  cls p` or, for an image the run calls unknown,
    `PATH<tab>unknown<tab>why; closest classes: cls p  cls p`: both end with the ranking.
    An untrained test model may call any photo unknown, so tests read it from the end.
    """
    return line.split("\t")[-1].split("closest classes: ")[-1].split()[::2]
