"""The far-prompt line of genvid generate: decided by the text encoder's similarity to the captions."""

import numpy as np
import pytest
import torch

import genvid
from genvid.data.captions import rich_caption
from genvid.data.synthetic import HELDOUT_COMBINATIONS, NUM_TEMPLATES, caption_for
from genvid.known_prompts import FILE_NAME, KnownCaptions, synthetic_vocabulary, write_known_captions
from genvid.text import TextEncoder


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder.from_pretrained(f"{genvid.demo_path('diffusion')}/text_encoder")


@pytest.mark.parametrize("name", ["diffusion", "ar"])
def test_shipped_demos_flag_far_prompts_only(encoder, name):
    known = KnownCaptions.from_folder(genvid.demo_path(name))
    assert known is not None
    line = known.far_prompt_line(encoder, "a dog surfing at sunset")
    assert line is not None and "circle, square, triangle" in line and "left, right, up, down" in line
    assert known.far_prompt_line(encoder, "an astronaut riding a horse on the moon") is not None
    # combinations never trained on, in the captions' words: known, not far
    for combination in HELDOUT_COMBINATIONS:
        for template in range(NUM_TEMPLATES):
            assert known.far_prompt_line(encoder, caption_for(*combination, template)) is None
    # the rich training grammar the demos were fine-tuned on (fresh draws, not the stored ones): not far
    rng = np.random.default_rng(11)
    for combination in HELDOUT_COMBINATIONS:
        assert known.far_prompt_line(encoder, rich_caption(*combination, rng)) is None


def test_summary_round_trip(tmp_path, encoder):
    assert KnownCaptions.from_folder(tmp_path) is None
    write_known_captions(tmp_path, encoder, ["a red circle moving left", "a blue square moving up"],
                         synthetic_vocabulary(), threshold=0.99)
    known = KnownCaptions.from_folder(tmp_path)
    assert (tmp_path / FILE_NAME).is_file() and known.embeddings.shape == (2, encoder.hidden_size)
    assert known.similarity(encoder, "a red circle moving left") == pytest.approx(1.0, abs=1e-2)
    # the stored threshold decides: 0.99 flags a near paraphrase, the shipped 0.6 would not
    assert known.far_prompt_line(encoder, "the red circle moves to the left") is not None
    assert known.far_prompt_line(encoder, "") is None


def test_generate_prints_the_line_for_a_far_prompt(tmp_path, capsys):
    from genvid.cli import main

    torch.manual_seed(0)
    for prompt, expected in (("a dog surfing at sunset", True), ("a red circle moving left", False)):
        out = tmp_path / f"{expected}.png"
        assert main(["generate", prompt, "--steps", "2", "--num-frames", "1", "--output", str(out)]) == 0
        printed = capsys.readouterr().out
        assert out.is_file()
        assert ("far from everything this model was trained on" in printed) == expected, printed
