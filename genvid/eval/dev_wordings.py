"""The development wording set: prompts in words no training caption uses, for choosing designs.

The held-out wording set (genvid.eval.wordings) measures; it is not looked at while a method or a
threshold is chosen, or it stops being held out. Every choice of the prompt reading
(genvid.prompt_reading) was made on this set instead. Its synonyms and sentence forms are
disjoint from both the training grammars (genvid.data.synthetic.caption_for, genvid.data.captions)
and the held-out set: tests/test_wordings.py asserts that no phrase of one appears in the prompts
or captions of another, and that no content word of this set is a word of a held-out phrase.
"""

from __future__ import annotations

from pathlib import Path

from genvid.data.word_tables import read_word_table

#: The synonyms and sentence forms of this set: data, in dev_wordings.tsv beside this module.
COLOR_SYNONYMS, SHAPE_SYNONYMS, MOTION_SYNONYMS, TEMPLATES, TEMPLATE_MARKERS = TABLE = read_word_table(
    Path(__file__).with_name("dev_wordings.tsv"))


def dev_wording(color: str, shape: str, motion: str, index: int = 0) -> str:
    """The ``index``-th development wording of a combination (indices cycle as in
    genvid.eval.wordings.heldout_wording)."""
    from genvid.eval.wordings import cycled_wording

    return cycled_wording(TEMPLATES, COLOR_SYNONYMS[color], SHAPE_SYNONYMS[shape], MOTION_SYNONYMS[motion], index)


def dev_phrases() -> list[str]:
    """Every synonym of this set (what neither a training caption nor a held-out prompt may contain)."""
    return TABLE.phrases()
