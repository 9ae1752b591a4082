"""Prompt reading (genvid.pipelines.prompt_reading): a prompt in new words is encoded as the caption it
is read as; a prompt in the captions' words gives exactly the clip it gave without reading."""

import logging

import numpy as np
import pytest
import torch

import genvid
from genvid.data.captions import rich_caption
from genvid.data.synthetic import HELDOUT_COMBINATIONS, NUM_TEMPLATES, caption_for
from genvid.pipelines.prompt_reading import FILE_NAME, PromptReader

#: development wordings (genvid.eval.dev_wordings), never the held-out ones
NEW_WORDS = {"look, a lilac sphere soaring": ("circle", "up"),
             "watch this mustard cube crawling left": ("square", "left")}


@pytest.fixture(scope="module")
def diffusion():
    from genvid.pipelines.standalone import load

    pipeline = load(genvid.demo_path("diffusion"))
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _clip(pipeline, prompt, **options):
    return pipeline(prompt, num_frames=1, num_inference_steps=2, generator=torch.Generator().manual_seed(3),
                    output_type="pt", **options).frames


def test_shipped_demos_read_new_words_and_keep_the_captions(diffusion):
    reader = diffusion.prompt_reader
    assert reader is not None and diffusion.reads_prompts(None) and not diffusion.reads_prompts(False)
    encoder = diffusion.text_encoder
    canonical = [caption_for(*combination, template) for combination in HELDOUT_COMBINATIONS
                 for template in range(NUM_TEMPLATES)]
    # and the rich training grammar, whose colour synonyms are all in the colour table too
    rng = np.random.default_rng(5)
    canonical += [rich_caption(*combination, rng) for combination in HELDOUT_COMBINATIONS for _ in range(3)]
    assert reader.read(encoder, canonical + [""]) == [None] * (len(canonical) + 1)
    for prompt, (shape, motion), caption in zip(NEW_WORDS, NEW_WORDS.values(), reader.read(encoder, list(NEW_WORDS))):
        assert caption is not None and f" {shape} moving {motion}" in caption, (prompt, caption)
        # what it is read as is a caption the demo keeps
        assert reader.read(encoder, [caption]) == [None]


def test_colours_are_read_by_name_and_the_rest_by_the_encoder(diffusion):
    import copy

    from genvid.data.synthetic import COLORS

    reader, encoder = diffusion.prompt_reader, diffusion.text_encoder
    # the folder keeps the colours the demo draws; names are read as the nearest of those
    assert reader.colour_values == {name: list(value) for name, value in COLORS.items()}
    named = ["look, a carmine sphere soaring", "i see a navy cube plunging", "watch this bluish coin crawling right"]
    assert [reading["colours"] for reading in reader.attributes(encoder, named)] == ["red", "blue", "blue"]
    # "lagoon" is no name in the table: the token states decide, as without the table
    unnamed = ["look, a lagoon sphere soaring", "i see an alabaster cube plunging"]
    without_table = copy.copy(reader)
    without_table.colour_words = None
    assert reader.attributes(encoder, unnamed) == without_table.attributes(encoder, unnamed)


def test_caption_words_come_first_and_a_new_colour_is_read_even_near_the_captions(diffusion):
    reader, encoder = diffusion.prompt_reader, diffusion.text_encoder
    # near the training captions (rich grammar words "ball", "slides"), so a known colour is kept as
    # typed; "bluish" no caption uses, so that prompt is read, its shape from the captions' "ball"
    assert reader.read(encoder, ["a blue ball that slides right", "a bluish ball that slides right"]) == [
        None, "a blue circle moving right"]
    # the rich grammar's own synonyms read as the captions mean them ("mauve" is purple there,
    # although the colour survey's mauve is nearest the demo's white)
    assert reader.attributes(encoder, ["look, a mauve pyramid, ascending"]) == [
        {"colours": "purple", "shapes": "triangle", "motions": "up"}]


def test_a_canonical_prompt_gives_the_same_clip(diffusion):
    prompt = caption_for(*HELDOUT_COMBINATIONS[0], 3)
    assert torch.equal(_clip(diffusion, prompt), _clip(diffusion, prompt, read_prompt=False))


def test_a_new_wording_is_drawn_as_its_reading(diffusion, caplog):
    prompt = next(iter(NEW_WORDS))
    caption = diffusion.prompt_reader.read(diffusion.text_encoder, [prompt])[0]
    with caplog.at_level(logging.INFO, logger="genvid.pipelines.prompt_reading"):
        read = _clip(diffusion, prompt)
    assert [record.getMessage().count(f'"{caption}"') for record in caplog.records] == [1]
    assert torch.equal(read, _clip(diffusion, caption, read_prompt=False))
    assert not torch.equal(read, _clip(diffusion, prompt, read_prompt=False))


def test_ar_demo_reads_too():
    from genvid import GenVidARPipeline

    pipeline = GenVidARPipeline.from_pretrained(genvid.demo_path("ar"))
    pipeline.set_progress_bar_config(disable=True)
    prompt = next(iter(NEW_WORDS))
    caption = pipeline.prompt_reader.read(pipeline.text_encoder, [prompt])[0]

    def clip(text, **options):
        return pipeline(text, num_frames=1, generator=torch.Generator().manual_seed(0), output_type="latent",
                        **options).frames

    # on by default in the AR demo too (chosen on the development set), off when asked
    assert pipeline.reads_prompts(None) and not pipeline.reads_prompts(False)
    assert torch.equal(clip(prompt), clip(caption, read_prompt=False))
    assert torch.equal(clip("a red circle moving left"), clip("a red circle moving left", read_prompt=False))


def test_reader_round_trip_and_a_folder_without_one(tmp_path, diffusion):
    assert PromptReader.from_folder(tmp_path) is None
    diffusion.prompt_reader.save(tmp_path)
    loaded = PromptReader.from_folder(tmp_path)
    assert (tmp_path / FILE_NAME).is_file() and loaded.known is not None
    assert loaded.colour_values == diffusion.prompt_reader.colour_values and loaded.colour_values
    assert loaded.caption_phrases == diffusion.prompt_reader.caption_phrases and loaded.caption_phrases["shapes"]
    prompts = [*NEW_WORDS, "a red circle moving left", "a dog surfing at sunset"]
    assert loaded.read(diffusion.text_encoder, prompts) == diffusion.prompt_reader.read(diffusion.text_encoder, prompts)


def test_generate_prints_what_the_prompt_was_read_as(tmp_path, capsys):
    from genvid.cli import main

    # far: whether the far-prompt line is printed (None: not asked; it is decided on the prompt as typed,
    # so most new wordings get it too)
    cases = ((next(iter(NEW_WORDS)), [], True, None), (next(iter(NEW_WORDS)), ["--no-read-prompt"], False, None),
             ("a dog surfing at sunset", [], True, True), ("a red circle moving left", [], False, False))
    for index, (prompt, flags, read, far) in enumerate(cases):
        out = tmp_path / f"{index}.png"
        assert main(["generate", prompt, "--steps", "2", "--num-frames", "1", "--output", str(out), *flags]) == 0
        printed = capsys.readouterr().out
        assert ("it was read as" in printed) == read, printed
        assert far is None or ("far from everything this model was trained on" in printed) == far, printed


def test_a_word_past_the_text_encoders_length_is_a_clear_error():
    from genvid.errors import GenvidError
    from genvid.pipelines.prompt_reading import word_state
    from genvid.text import TextEncoder

    encoder = TextEncoder(max_length=5)  # [CLS] a red circle [SEP]: "left" is cut off
    assert word_state(encoder, "a red circle moving left", "red").shape == (encoder.hidden_size,)
    with pytest.raises(GenvidError, match="'left' in 'a red circle moving left' lies past"):
        word_state(encoder, "a red circle moving left", "left")
