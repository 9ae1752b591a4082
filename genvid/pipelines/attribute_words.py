"""Which shape or motion an English word or phrase names, from WordNet's relations (issue 21).

Prompt reading (genvid.pipelines.prompt_reading) reads a prompt's shape and motion from the
training captions' own words first. For the words no caption uses it asks this table,
``attribute_words.tsv``, before falling back to the text encoder's token states: "disc", "orb",
"hoop" name a circle; "cube", "block", "brick" a square; "wedge", "pyramid" a triangle; "soaring",
"plunging", "skyward", "left-hand", "eastward" a direction. The table is derived from Princeton
WordNet 3.0 by the fixed rules of scripts/make_attribute_words.py (taxonomy, derivation, similar-to,
troponyms, definitions), never edited by hand: a general lexicon taken whole, as the colour-name
table of genvid.pipelines.colour_words is. Its rules were chosen on the development wording set
(genvid.eval.dev_wordings) and the training grammar's own synonyms, never on the held-out set.

Each form carries a level: 1 where WordNet relates it to the value directly (a hyponym of
"triangle", a troponym of "rise"), 2 where it got there through a definition ("ball: round object
..."). Words the table lacks ("arrowhead": "the pointed head of an arrow") fall back to the token states. A prompt's value is that of its surest phrase (lowest level, then first in the prompt).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("attribute_words.tsv")
#: Longest phrase of the table, in words ("go up", "drop down", "due west").
LONGEST_PHRASE = 3
#: A word as the table writes it: letters, with inner hyphens ("left-hand", "four-sided").
WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


@functools.lru_cache(maxsize=2)
def attribute_table(path: Path = TABLE_PATH) -> dict[str, dict[str, tuple[str, int]]]:
    """``{attribute: {phrase: (value, level)}}`` from the table file."""
    table: dict[str, dict[str, tuple[str, int]]] = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        phrase, attribute, value, level, _ = line.split("\t")
        table.setdefault(attribute, {})[phrase] = (value, int(level))
    return table


def prompt_words(text: str) -> list[str]:
    return WORD.findall(text.lower().replace("'", ""))


class AttributeWords:
    """The shape and motion words of :func:`attribute_table`, for the values a model knows."""

    def __init__(self, vocabulary: dict[str, list[str]], path: Path = TABLE_PATH):
        table = attribute_table(path)
        #: {attribute: {phrase: (value, level)}}, only the attributes and values of ``vocabulary``
        self.table = {name: {phrase: found for phrase, found in table[name].items() if found[0] in values}
                      for name, values in vocabulary.items() if name in table}

    def find(self, text: str, attribute: str, skip: frozenset[str] = frozenset()) -> tuple[str, str] | None:
        """``(value, phrase)``: the surest phrase of ``text`` that names a value of ``attribute`` (the lowest
        level, then the first; the longest where several start together), or None. Words in ``skip``
        (a colour's name) name nothing."""
        phrases = self.table.get(attribute)
        if not phrases:
            return None
        words = prompt_words(text)
        found = []
        for start in range(len(words)):
            for length in range(min(LONGEST_PHRASE, len(words) - start), 0, -1):
                phrase = " ".join(words[start : start + length])
                if phrase in phrases and not skip & set(words[start : start + length]):
                    found.append((phrases[phrase][1], start, -length, phrase))
        if not found:
            return None
        phrase = min(found)[3]
        return phrases[phrase][0], phrase
