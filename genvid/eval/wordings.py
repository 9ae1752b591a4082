"""The held-out wording set: prompts for the synthetic combinations in words no training caption uses.

A new user does not type "a red circle moving left"; they type "a crimson disc heading west".
These synonyms and sentence forms measure whether a generator follows the meaning of a prompt
or only the exact words of its captions.

How they are kept out of training: the only caption grammars the recipe trains on are
genvid.data.synthetic.caption_for (the basic grammar) and genvid.data.captions (the richer one),
and neither module imports this one. tests/test_wordings.py draws thousands of training captions
from both and asserts that none contains any phrase below (as whole words) and none matches a
held-out sentence form; a word added to the training grammar that collides with one here fails it.
"""

from __future__ import annotations

import re
from pathlib import Path

from genvid.data.captions import fix_articles
from genvid.data.word_tables import read_word_table

#: The synonyms no training caption uses, and the sentence forms no training template has (their
#: fixed words, the markers, appear in no training caption): data, in wordings.tsv beside this module.
COLOR_SYNONYMS, SHAPE_SYNONYMS, MOTION_SYNONYMS, TEMPLATES, TEMPLATE_MARKERS = TABLE = read_word_table(
    Path(__file__).with_name("wordings.tsv"))


def heldout_wording(color: str, shape: str, motion: str, index: int = 0) -> str:
    """The ``index``-th held-out wording of a combination; indices cycle through synonyms and
    templates at different rates, so neighbouring indices differ in every part."""
    return cycled_wording(TEMPLATES, COLOR_SYNONYMS[color], SHAPE_SYNONYMS[shape], MOTION_SYNONYMS[motion], index)


def cycled_wording(templates, colors, shapes, motions, index: int) -> str:
    """The ``index``-th sentence of a wording set (templates and each attribute's words cycling at
    different rates); a template may write ``{article}`` ("a", made "an" before a vowel)."""
    caption = templates[index % len(templates)].format(
        article="a",
        color=colors[index % len(colors)],
        shape=shapes[(index // 2) % len(shapes)],
        motion=motions[(index // 4 + index) % len(motions)],
    )
    return fix_articles(caption)


def heldout_phrases() -> list[str]:
    """Every held-out synonym and template marker (what a training caption must never contain)."""
    return TABLE.phrases() + list(TEMPLATE_MARKERS)


def contained_phrases(caption: str, phrases=None) -> list[str]:
    """The phrases (whole words) of ``phrases`` (default: the held-out ones) inside ``caption``."""
    text = caption.lower()
    return [phrase for phrase in (phrases or heldout_phrases())
            if re.search(r"(?<![a-z])" + re.escape(phrase) + r"(?![a-z])", text)]
