"""The synthetic set's richer TRAINING caption grammar (``SyntheticVideoDataset(captions="rich")``).

The basic grammar (genvid.data.synthetic.caption_for) always names a colour, a shape and a motion
with the same words. A model trained on it keys on those words, and a user's own words
("a scarlet disc rising") miss. This grammar says each attribute in several ways and in several
sentence forms, so that a generator learns to follow the meaning the text encoder carries, not a
word.

It must never use the phrases of the held-out wording set (genvid.eval.wordings), which measure
how well a model follows words it was never trained on. tests/test_wordings.py generates many
captions from this grammar and checks that none contains a held-out word or sentence form.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from genvid.data.word_tables import read_word_table

#: Each colour's, shape's and motion's phrases in training captions (the first colour and shape
#: word is the canonical one) and the sentence forms: data, in captions.tsv beside this module.
_TABLE = read_word_table(Path(__file__).with_name("captions.tsv"))
COLOR_WORDS, SHAPE_WORDS, MOTION_PHRASES, TEMPLATES = _TABLE.colors, _TABLE.shapes, _TABLE.motions, _TABLE.templates

_ARTICLE = re.compile(r"\ba(?= [aeiou])")


def fix_articles(caption: str) -> str:
    """"a orange ..." -> "an orange ..." (templates write "a" whatever word follows)."""
    return _ARTICLE.sub("an", caption)


def rich_caption(color: str, shape: str, motion: str, rng: np.random.Generator) -> str:
    """One caption of the combination, its words and sentence form drawn from ``rng``.

    Half the captions keep the canonical colour and shape words, so the basic grammar's captions
    stay in the training distribution (the canonical prompts are still what the demo is measured on).
    """
    canonical = rng.random() < 0.5
    color_word = color if canonical else str(rng.choice(COLOR_WORDS[color][1:]))
    shape_word = shape if canonical else str(rng.choice(SHAPE_WORDS[shape][1:]))
    motion_phrase = str(rng.choice(MOTION_PHRASES[motion]))
    template = str(rng.choice(TEMPLATES))
    return fix_articles(template.format(article="a", color=color_word, shape=shape_word, motion=motion_phrase))
