"""The development wording set: prompts in words no training caption uses, for choosing designs.

The held-out wording set (genvid.eval.wordings) measures; it is not looked at while a method or a
threshold is chosen, or it stops being held out. Every choice of the prompt reading
(genvid.prompt_reading) was made on this set instead. Its synonyms and sentence forms are
disjoint from both the training grammars (genvid.data.synthetic.caption_for, genvid.data.captions)
and the held-out set: tests/test_wordings.py asserts that no phrase of one appears in the prompts
or captions of another, and that no content word of this set is a word of a held-out phrase.
"""

from __future__ import annotations

#: Colours: two names, then an adjective form ("-ish", "-y") or a shade; some are names a
#: colour-name table does not know ("mandarin", "lagoon").
COLOR_SYNONYMS: dict[str, tuple[str, ...]] = {
    "red": ("vermilion", "carmine", "brick"),
    "green": ("lime", "chartreuse", "grassy"),
    "blue": ("navy", "cerulean", "bluish"),
    "yellow": ("mustard", "saffron", "buttery"),
    "purple": ("lilac", "amethyst", "purplish"),
    "orange": ("marigold", "mandarin", "orangish"),
    "white": ("alabaster", "porcelain", "silvery"),
    "cyan": ("lagoon", "glacier", "icy"),
}
SHAPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "circle": ("sphere", "coin"),
    "square": ("cube", "four-sided shape"),
    "triangle": ("arrowhead", "three-cornered shape"),
}
#: Motions: some phrases keep a training direction word in a new phrase ("crawling left"), the
#: rest say it without one ("soaring").
MOTION_SYNONYMS: dict[str, tuple[str, ...]] = {
    "left": ("crawling left", "sweeping to the left-hand side"),
    "right": ("crawling right", "sweeping to the right-hand side"),
    "up": ("soaring", "lifting skyward"),
    "down": ("plunging", "dropping to the floor"),
}
TEMPLATES: tuple[str, ...] = (
    "look, {article} {color} {shape} {motion}",
    "i see {article} {color} {shape} {motion}",
    "watch this {color} {shape} {motion}",
    "{article} {shape} in {color}, {motion}",
)
TEMPLATE_MARKERS: tuple[str, ...] = ("look", "i see", "watch this", "in")


def dev_wording(color: str, shape: str, motion: str, index: int = 0) -> str:
    """The ``index``-th development wording of a combination (indices cycle as in
    genvid.eval.wordings.heldout_wording)."""
    from genvid.eval.wordings import cycled_wording

    return cycled_wording(TEMPLATES, COLOR_SYNONYMS[color], SHAPE_SYNONYMS[shape], MOTION_SYNONYMS[motion], index)


def dev_phrases() -> list[str]:
    """Every synonym of this set (what neither a training caption nor a held-out prompt may contain)."""
    return [word for table in (COLOR_SYNONYMS, SHAPE_SYNONYMS, MOTION_SYNONYMS) for words in table.values()
            for word in words]
