"""The DiT's conditioned measurements (genvid.eval.keyframes / stylization / video_to_video): each
measures what it says on stand-in pipelines whose answers are known, and `genvid eval keyframes`
on the shipped demo finds the keyframes used."""

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from genvid.data.synthetic import parse_caption, render_clip
from genvid.eval.keyframes import keyframe_path_error
from genvid.eval.references import references
from genvid.eval.stylization import stylization_accuracy
from genvid.eval.video_to_video import video_to_video_psnr


class Stand_in:
    """A pipeline that draws ``answer(prompt, call options, index in the batch)`` for each prompt."""

    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def __call__(self, prompt, generator=None, output_type="pt", **options):
        assert output_type == "pt"
        self.calls.append(options)
        clips = torch.stack([self.answer(text, options, index) for index, text in enumerate(prompt)])
        return SimpleNamespace(frames=((clips + 1) / 2).transpose(1, 2))  # (B, T, 3, H, W) in [0, 1]


def test_keyframe_distance_is_zero_on_the_true_path_and_the_shift_off_it():
    items = references("heldout", 1)
    served = iter(range(len(items) * 2))

    def answer(prompt, options, index):
        item = items[next(served) % len(items)]
        clip = item.clip()
        if "keyframes" in options:  # the first and last frames given are those of the true clip
            first, last = options["keyframes"]
            assert torch.equal(first[0][index], clip[:, 0]) and (first[1], last[1]) == (0, 16)
            return clip
        return torch.roll(clip, shifts=5, dims=-1)  # 5 px to the right of the true path

    report = keyframe_path_error(Stand_in(answer), "heldout", 1, batch_size=3)
    assert report["keyframes"]["mean_distance_px"] < 0.1 and report["keyframes"]["within_3px"] == 1
    assert report["text only"]["mean_distance_px"] == pytest.approx(5, abs=0.1)
    assert report["text only"]["within_3px"] == 0 and report["keyframes"]["num_clips"] == 8


def test_stylization_needs_the_prompts_colour_and_the_inputs_own_path():
    def copies_input(prompt, options, index):  # keeps everything, takes no colour
        assert options["structure"] == "grey"
        return options["video"][index]

    def ignores_input(prompt, options, index):  # the prompt's clip, somewhere else in the frame
        return render_clip(*parse_caption(prompt), seed=999 + index)

    def restyles(prompt, options, index):  # the prompt's colour on the input's own clip
        wanted = parse_caption(prompt)[0]
        source = options["video"][index]
        item = next(item for item in references("heldout", 1) if torch.equal(item.clip(), source))
        return render_clip(wanted, *item.label[1:], seed=item.seed)

    copied = stylization_accuracy(Stand_in(copies_input), "heldout", 1)["strength 0.6"]
    assert copied["color_accuracy"] == 0 and copied["path_kept"] == 1 and copied["stylized_accuracy"] == 0
    ignored = stylization_accuracy(Stand_in(ignores_input), "heldout", 1)["strength 0.6"]
    assert ignored["all_accuracy"] == 1 and ignored["stylized_accuracy"] < 0.5  # the analyzer alone is fooled
    styled = stylization_accuracy(Stand_in(restyles), "heldout", 1, strengths=(0.6, 0.8))
    assert set(styled) == {"strength 0.6", "strength 0.8"}
    assert styled["strength 0.8"]["stylized_accuracy"] == 1 and styled["strength 0.8"]["mean_path_distance_px"] < 0.1


def test_video_to_video_psnr_follows_how_far_the_output_is_from_the_input():
    def answer(prompt, options, index):
        source = options["video"][index]
        noise = torch.Generator().manual_seed(index)
        return (source + options["strength"] * 0.2 * torch.randn(source.shape, generator=noise)).clamp(-1, 1)

    report = video_to_video_psnr(Stand_in(answer), "heldout", 1, strengths=(0.0, 0.5, 1.0))
    assert np.isinf(report["strength 0"]["psnr_db"]) and report["strength 0"]["all_accuracy"] == 1
    assert report["strength 0.5"]["psnr_db"] > report["strength 1"]["psnr_db"] + 4  # 2x the noise: -6 dB


def test_eval_keyframes_on_the_shipped_demo_uses_the_keyframes(tmp_path):
    output = tmp_path / "keyframes.json"
    result = subprocess.run(
        [sys.executable, "-m", "genvid.cli", "eval", "keyframes", "--samples-per-combination", "1", "--combinations", "2",
         "--steps", "4",
         "--output", str(output)], capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(output.read_text())
    assert "keyframes: mean_distance_px" in result.stdout
    assert report["keyframes"]["mean_distance_px"] < 0.5 * report["text only"]["mean_distance_px"]


def test_few_step_rows_buy_half_the_steps_with_guidance_and_all_of_them_distilled():
    from genvid.errors import GenvidError
    from genvid.eval.few_step import few_step_rows

    def answer(prompt, options, index):
        return render_clip(*parse_caption(prompt), seed=index)

    for distilled, expected in ((False, [8, 2]), (True, [16, 4])):
        pipeline = Stand_in(answer)
        pipeline.config = {"guidance_distilled": distilled, "default_guidance_scale": 2.5}
        rows = few_step_rows(pipeline, (16, 4), samples_per_combination=1)
        assert [row["steps"] for row in rows.values()] == expected
        assert sorted({call["num_inference_steps"] for call in pipeline.calls}) == sorted(expected)
        assert rows["4 evaluations"]["heldout"]["all_accuracy"] == 1 and rows["4 evaluations"]["cpu_seconds_per_clip"] > 0
    with pytest.raises(GenvidError, match="whole number of steps"):
        few_step_rows(pipeline, (5,), samples_per_combination=1, guidance_scale=2.5)
