"""Colour words through a colour-name table (genvid.pipelines.colour_words): names no training caption
uses read as the model colour nearest in CIELAB; a prompt without one is left to the text encoder."""

import pytest
import torch

from genvid.data.captions import COLOR_WORDS
from genvid.data.synthetic import COLORS
from genvid.errors import GenvidError
from genvid.pipelines.colour_words import ColourWords, colour_table, lab


@pytest.fixture(scope="module")
def colours():
    return ColourWords(dict(COLORS))


def test_names_no_caption_uses_read_as_the_nearest_model_colour(colours):
    # none is a training synonym; the model's own names appear only inside the longer names of shades
    training_words = {word for words in COLOR_WORDS.values() for word in words[1:]}
    cases = {"a tomato triangle rolling by": "red", "banana": "yellow", "grape": "purple", "a maroon shape": "red",
             "bluish": "blue", "reddish": "red", "silvery": "white",  # adjective forms: "-ish", "-y"
             "a dark red cube": "red", "light blue": "blue",  # shades of a model colour keep it
             "a robin's egg blue ring": "blue", "tomatoe": "red"}  # a name of four words; a slip of a letter
    for text, colour in cases.items():
        assert not training_words & set(text.split()), text
        assert colours.read(text) == colour, (text, colours.phrase(text))
    # the first name wins, the longest at its place ("dark green", not "dark")
    assert colours.phrase("a dark green cone beside a red one") == "dark green"


def test_words_that_name_no_colour_give_none(colours):
    for text in ("a glimmering shape drifting", "a cube on a dark background", "pale", "a shape moving left", ""):
        assert colours.read(text) is None, (text, colours.phrase(text))


def test_the_table_and_lab():
    table = colour_table()
    assert len(table) > 1000 and table["vermillion"] == (0xF4, 0x32, 0x0C)
    # XKCD's survey value wins where CSS4 names the same word; CSS4 fills in what XKCD lacks
    assert table["green"] == (0x15, 0xB0, 0x1A) and table["snow"] == (0xFF, 0xFA, 0xFA)
    reference = lab([[255, 255, 255], [255, 0, 0], [0, 0, 0]])
    assert torch.allclose(reference, torch.tensor([[100.0, 0.0, 0.0], [53.24, 80.09, 67.20], [0.0, 0.0, 0.0]],
                                                  dtype=torch.float64), atol=0.02)


def test_the_model_colours_values_decide(colours):
    # a colour drawn elsewhere moves what is nearest to it
    assert colours.read("ocean") == "cyan"
    moved = ColourWords({**COLORS, "cyan": (230, 60, 160), "green": None})
    assert moved.read("ocean") != "cyan"
    with pytest.raises(GenvidError, match="no value for the model colour"):
        ColourWords({"blicket": None})
