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

import numpy as np

#: Each colour's names in training captions; the first is the canonical one.
COLOR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red", "ruby", "cherry red"),
    "green": ("green", "mint", "leaf green"),
    "blue": ("blue", "sapphire", "sky blue"),
    "yellow": ("yellow", "canary", "sunflower yellow"),
    "purple": ("purple", "plum", "mauve"),
    "orange": ("orange", "pumpkin", "apricot"),
    "white": ("white", "pearl", "chalk white"),
    "cyan": ("cyan", "teal", "seafoam"),
}
SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "ball", "round dot"),
    "square": ("square", "tile", "square panel"),
    "triangle": ("triangle", "pyramid", "three-sided shape"),
}
MOTION_PHRASES: dict[str, tuple[str, ...]] = {
    "left": ("moving left", "moves to the left", "going left", "sliding to the left", "travels leftward",
             "drifting left", "floating toward the left"),
    "right": ("moving right", "moves to the right", "going right", "sliding to the right", "travels rightward",
              "drifting right", "floating toward the right"),
    "up": ("moving up", "moves upward", "going up", "sliding upward", "travels upward",
           "drifting up", "ascending"),
    "down": ("moving down", "moves downward", "going down", "sliding downward", "travels downward",
             "drifting down", "descending"),
}
TEMPLATES: tuple[str, ...] = (
    "{article} {color} {shape} {motion}",
    "{color} {shape} {motion}",
    "the {color} {shape} {motion}",
    "{article} {color} {shape} {motion} on a dark background",
    "a video of {article} {color} {shape} {motion}",
    "one {color} {shape}, {motion}",
    "{article} {color} colored {shape} {motion}",
    "{article} small {color} {shape} {motion} across the frame",
)


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
