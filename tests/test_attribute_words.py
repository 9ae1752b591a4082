"""Shape and direction words from WordNet (genvid.pipelines.attribute_words) in prompt reading: a word
no caption uses names its shape or motion, an unknown word falls back to the text encoder, and the
captions' own wordings are kept as typed."""

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import genvid
from genvid.eval.wordings import contained_phrases
from genvid.pipelines.attribute_words import TABLE_PATH, AttributeWords

VOCABULARY = {"shapes": ["circle", "square", "triangle"], "motions": ["left", "right", "up", "down"]}
#: words no training caption uses, none of them in the held-out wording set (asserted below)
SHAPES = {"a sphere": "circle", "two hoops": "circle", "a cube": "square", "a brick": "square",
          "a rhombus": "square", "a trilateral": "triangle", "a trigon": "triangle"}
MOTIONS = {"soaring": "up", "climbs": "up", "plunging": "down", "dived": "down", "sank": "down",
           "to the left-hand side": "left", "leftwards": "left", "eastward": "right", "toward starboard": "right",
           "heavenward": "up", "rose quickly": "up"}


@pytest.fixture(scope="module")
def diffusion():
    from genvid.pipelines.standalone import load

    return load(genvid.demo_path("diffusion"))


def test_new_shape_and_direction_words_name_their_value():
    words = AttributeWords(VOCABULARY)
    for table, name in ((SHAPES, "shapes"), (MOTIONS, "motions")):
        for phrase, value in table.items():
            assert not contained_phrases(phrase), phrase  # the held-out set stays unseen
            found = words.find(phrase, name)
            assert found is not None and found[0] == value, (phrase, found)
    # the surest phrase wins: a direct relation (level 1) over one found through a definition
    assert words.find("a ball or a trigon", "shapes") == ("triangle", "trigon")
    # a colour's words name nothing ("drop" alone is a drop-shaped circle)
    assert words.find("a drop", "shapes") == ("circle", "drop")
    assert words.find("a drop", "shapes", skip=frozenset({"drop"})) is None
    # a model whose vocabulary lacks a value never reads it
    assert AttributeWords({"shapes": ["square"]}).find("a sphere", "shapes") is None


def test_an_unknown_word_falls_back_to_the_text_encoder(diffusion):
    reader, encoder = diffusion.prompt_reader, diffusion.text_encoder
    words = AttributeWords(VOCABULARY)
    prompts = ["look, a lilac zorblat crawling", "i see a navy glimmerthing"]
    assert all(words.find(prompt, name) is None for prompt in prompts for name in VOCABULARY)
    without_table = copy.copy(reader)
    without_table.attribute_words = AttributeWords({})
    assert reader.attributes(encoder, prompts) == without_table.attributes(encoder, prompts)
    # where the table knows the words, it decides (here against what the token states read)
    known = ["look, a lilac cube soaring"]
    assert [(reading["shapes"], reading["motions"]) for reading in reader.attributes(encoder, known)] == [
        ("square", "up")]


def test_a_new_word_near_the_captions_is_read_and_their_own_words_are_kept(diffusion):
    reader, encoder = diffusion.prompt_reader, diffusion.text_encoder
    # "sphere" and "soaring" are no caption's words, however near the rest is; "right" is one
    # ("moving right"), and "slides right" says nothing the captions do not
    assert reader.read(encoder, ["a red sphere moving left", "a red circle soaring", "a blue ball that slides right",
                                 "a red circle moving left"]) == [
        "a red circle moving left", "a red circle moving up", None, None]


@pytest.mark.skipif(not Path("/usr/share/wordnet/data.noun").exists(), reason="WordNet 3.0 (wordnet-base) not installed")
def test_the_table_is_what_the_script_makes(tmp_path):
    """The shipped table is generated, not edited by hand."""
    script = Path(genvid.__file__).parents[1] / "scripts" / "make_attribute_words.py"
    if not script.exists():
        pytest.skip("scripts/ not in this installation")
    output = tmp_path / "attribute_words.tsv"
    subprocess.run([sys.executable, str(script), "--output", str(output)], check=True, capture_output=True)
    assert output.read_text() == TABLE_PATH.read_text()


def test_the_script_says_where_wordnet_is_missing(tmp_path):
    script = Path(genvid.__file__).parents[1] / "scripts" / "make_attribute_words.py"
    if not script.exists() or shutil.which(sys.executable) is None:
        pytest.skip("scripts/ not in this installation")
    result = subprocess.run([sys.executable, str(script), "--wordnet", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode != 0 and "no WordNet database in" in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback
