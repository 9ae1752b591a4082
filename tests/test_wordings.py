"""The held-out wording set stays out of every training caption."""

import itertools
import re

import numpy as np

from genvid.data.captions import COLOR_WORDS, MOTION_PHRASES, SHAPE_WORDS, rich_caption
from genvid.data.synthetic import ALL_COMBINATIONS, NUM_TEMPLATES, SyntheticVideoDataset, caption_for
from genvid.eval.prompts_eval import prompt_for
from genvid.eval.wordings import (COLOR_SYNONYMS, MOTION_SYNONYMS, SHAPE_SYNONYMS, TEMPLATES, contained_phrases,
                                  heldout_phrases, heldout_wording)


def _training_captions():
    basic = [caption_for(*combination, template=template)
             for combination in ALL_COMBINATIONS for template in range(NUM_TEMPLATES)]
    dataset = SyntheticVideoDataset(split="all", num_samples=3000, captions="rich", seed=3)
    rich = [dataset.labels(index)["caption"] for index in range(len(dataset))]
    return basic + rich


def test_no_training_caption_contains_a_heldout_phrase():
    captions = _training_captions()
    # Every training word and phrase of the rich grammar is drawn at least once, so the check
    # covers the whole grammar, not a lucky sample of it.
    text = " | ".join(captions)
    for words in (*COLOR_WORDS.values(), *SHAPE_WORDS.values(), *MOTION_PHRASES.values()):
        for word in words:
            assert word in text, word
    leaks = {caption: found for caption in captions if (found := contained_phrases(caption))}
    assert not leaks


def test_the_check_catches_a_leak():
    assert contained_phrases("a crimson circle moving left") == ["crimson"]
    assert contained_phrases("a red circle that is rising") == ["rising", "that is"]
    # whole words only: "discus" is not "disc"
    assert contained_phrases("a discus moving left") == []


def test_heldout_wordings_use_heldout_words_only():
    vocabulary = {word for words in (*COLOR_WORDS.values(), *SHAPE_WORDS.values()) for word in words}
    seen = set()
    for (color, shape, motion), index in itertools.product(ALL_COMBINATIONS, range(4)):
        prompt = heldout_wording(color, shape, motion, index)
        seen.add(prompt)
        found = contained_phrases(prompt)
        assert any(word in found for word in COLOR_SYNONYMS[color])
        assert any(word in found for word in SHAPE_SYNONYMS[shape])
        assert any(word in found for word in MOTION_SYNONYMS[motion])
        assert not contained_phrases(prompt, sorted(vocabulary)), prompt
    assert len(seen) == len(ALL_COMBINATIONS) * 4


def test_one_clip_per_combination_covers_every_synonym_and_form():
    prompts = [prompt_for(combination, 0, "heldout") for combination in ALL_COMBINATIONS]
    found = {phrase for prompt in prompts for phrase in contained_phrases(prompt)}
    assert set(heldout_phrases()) <= found
    assert len(TEMPLATES) == 4


def test_rich_captions_are_deterministic_and_varied():
    first = [rich_caption("red", "circle", "left", np.random.default_rng(index)) for index in range(50)]
    again = [rich_caption("red", "circle", "left", np.random.default_rng(index)) for index in range(50)]
    assert first == again
    assert len(set(first)) > 20
    dataset = SyntheticVideoDataset(num_samples=4, captions="rich")
    assert dataset.labels(1) == SyntheticVideoDataset(num_samples=4, captions="rich").labels(1)
    # the grammar changes the words only: the same clip under either grammar
    basic = SyntheticVideoDataset(num_samples=4)
    assert basic.labels(2)["clip_seed"] == dataset.labels(2)["clip_seed"]


def test_generate_splits_asks_in_each_wording():
    from types import SimpleNamespace

    import torch

    from genvid.eval.prompts_eval import generate_splits

    asked = []

    def pipeline(prompt, generator, output_type, **options):
        asked.extend(prompt)
        return SimpleNamespace(frames=torch.zeros(len(prompt), 1, 8, 8, 3))

    generated = generate_splits(pipeline, ("heldout",), wordings=("canonical", "heldout"))
    assert list(generated) == ["heldout", "heldout / heldout wording"]
    canonical, heldout = asked[:8], asked[8:]
    assert canonical == [caption_for(*combination) for combination in generated["heldout"][0]]
    assert all(not contained_phrases(prompt) for prompt in canonical)
    assert all(contained_phrases(prompt) for prompt in heldout) and len(heldout) == 8


def test_training_heldout_and_development_wordings_are_disjoint():
    # the development set (genvid.eval.dev_wordings) chose the prompt reading; it shares no phrase
    # with the training captions, and no phrase nor content word with the held-out set
    from genvid.eval.dev_wordings import TEMPLATE_MARKERS, dev_phrases, dev_wording

    dev = [dev_wording(*combination, index) for combination, index in itertools.product(ALL_COMBINATIONS, range(8))]
    heldout = [heldout_wording(*combination, index) for combination, index in itertools.product(ALL_COMBINATIONS, range(8))]
    phrases = dev_phrases() + list(TEMPLATE_MARKERS)
    assert not [caption for caption in _training_captions() if contained_phrases(caption, phrases)]
    assert not [prompt for prompt in heldout if contained_phrases(prompt, phrases)]
    assert not [prompt for prompt in dev if contained_phrases(prompt)]
    words = lambda texts: {word for text in texts for word in re.findall(r"[a-z]+", text.lower())}  # noqa: E731
    # "shape" ("three-cornered shape", "triangular shape") names no colour, shape or motion
    function_words = {"a", "an", "the", "to", "in", "and", "is", "that", "shape"}
    assert not (words(dev_phrases()) & words(heldout_phrases())) - function_words
    # colours and shapes in words no training caption uses, as in the held-out set
    vocabulary = sorted({word for words in (*COLOR_WORDS.values(), *SHAPE_WORDS.values()) for word in words})
    assert not [prompt for prompt in dev if contained_phrases(prompt, vocabulary)]
    assert len(set(dev)) == len(dev)
