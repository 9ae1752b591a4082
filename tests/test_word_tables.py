"""The word tables are data files (genvid.data.word_tables): the same content as when they were code,
installed with the package, and a malformed line is one clear error."""

import hashlib
import json
from pathlib import Path

import pytest

from genvid.data import captions
from genvid.data.word_tables import read_word_table
from genvid.errors import GenvidError
from genvid.eval import dev_wordings, wordings


def _digest(table) -> str:
    return hashlib.sha256(json.dumps(list(table)).encode()).hexdigest()[:16]


def test_the_tables_hold_what_the_modules_held():
    # digests and counts of the tables as they were written in Python before they became files: the
    # held-out and development sets must not change (nothing is tuned on the held-out one)
    training = captions._TABLE
    assert _digest(training[:4]) == "ddfbe2f3277236b4"
    assert _digest(wordings.TABLE) == "6cb07fbd36f36c81"
    assert _digest(dev_wordings.TABLE) == "67b8bbd57f4b8ac5"
    def counts(table):
        return [sum(map(len, part.values())) if isinstance(part, dict) else len(part) for part in table]

    assert counts(training) == [24, 9, 28, 8, 0]
    assert counts(wordings.TABLE) == [16, 6, 8, 4, 4]
    assert counts(dev_wordings.TABLE) == [24, 6, 8, 4, 4]
    assert captions.COLOR_WORDS["orange"] == ("orange", "pumpkin", "apricot")
    assert wordings.TEMPLATES[0] == "there goes a {color} {shape}, {motion}"
    assert dev_wordings.SHAPE_SYNONYMS["triangle"] == ("arrowhead", "three-cornered shape")


def test_every_table_file_installs_with_the_package():
    root = Path(__file__).resolve().parents[1]
    setup = (root / "setup.py").read_text()
    # demo/ and pretrained/ install whole; any other table file must be named
    tables = sorted(name for path in (root / "genvid").rglob("*.tsv")
                    if not (name := path.relative_to(root / "genvid").as_posix()).startswith(("demo/", "pretrained/")))
    assert "data/captions.tsv" in tables and "eval/wordings.tsv" in tables
    assert [table for table in tables if f'"{table}"' not in setup] == []


def test_a_malformed_line_is_one_clear_error(tmp_path):
    path = tmp_path / "table.tsv"
    path.write_text("# a note\ncolor\tred\tcrimson\ntemplate\ta {color} {shape}\ncolour\tred\tscarlet\n")
    with pytest.raises(GenvidError, match=r"table.tsv:4: expected .*'colour\\tred\\tscarlet'"):
        read_word_table(path)
    path.write_text("color\tred\n")
    with pytest.raises(GenvidError, match="table.tsv:1"):
        read_word_table(path)
    path.write_text("color\tred\tcrimson\tscarlet\nmarker\tthere goes\n")
    table = read_word_table(path)
    assert table.colors == {"red": ("crimson", "scarlet")} and table.markers == ("there goes",) and table.shapes == {}
