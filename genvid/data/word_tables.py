"""``read_word_table``: the phrases a caption grammar or a wording set names each attribute with.

The tables are data, kept as tab-separated files beside the modules that use them and installed
with the package: ``genvid/data/captions.tsv`` (the rich training grammar),
``genvid/eval/wordings.tsv`` (the held-out wording set) and ``genvid/eval/dev_wordings.tsv`` (the
development one). A line is ``kind<TAB>value<TAB>phrase<TAB>phrase...`` for the kinds ``color``,
``shape`` and ``motion``, or ``template<TAB>sentence form`` / ``marker<TAB>fixed words of a form``;
``#`` lines are notes.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from genvid.errors import GenvidError

ATTRIBUTE_KINDS = ("color", "shape", "motion")
LIST_KINDS = ("template", "marker")


class WordTable(NamedTuple):
    """Each attribute value's phrases (in file order), the sentence forms and their markers."""

    colors: dict[str, tuple[str, ...]]
    shapes: dict[str, tuple[str, ...]]
    motions: dict[str, tuple[str, ...]]
    templates: tuple[str, ...]
    markers: tuple[str, ...]

    def phrases(self) -> list[str]:
        """Every phrase of the colour, shape and motion tables (not the templates nor markers)."""
        return [phrase for table in (self.colors, self.shapes, self.motions) for phrases in table.values()
                for phrase in phrases]


def read_word_table(path: str | Path) -> WordTable:
    """The table of ``path``; a line of an unknown kind, or a value with no phrase, is a one-line error."""
    path = Path(path)
    attributes = {kind: {} for kind in ATTRIBUTE_KINDS}
    lists = {kind: [] for kind in LIST_KINDS}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        kind, *columns = line.split("\t")
        if kind in LIST_KINDS and len(columns) == 1:
            lists[kind].append(columns[0])
        elif kind in ATTRIBUTE_KINDS and len(columns) >= 2:
            attributes[kind][columns[0]] = tuple(columns[1:])
        else:
            raise GenvidError(f"{path}:{number}: expected 'color|shape|motion<TAB>value<TAB>phrases...' or "
                              f"'template|marker<TAB>text', got {line!r}")
    return WordTable(attributes["color"], attributes["shape"], attributes["motion"], tuple(lists["template"]),
                     tuple(lists["marker"]))
