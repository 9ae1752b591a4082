"""The shipped demo pipelines: load offline from the package and generate what is asked."""

import subprocess
import sys

import pytest
import torch

import genvid
from genvid.data import read_video, render_clip, write_video


@pytest.mark.parametrize("name", ["diffusion", "ar"])
def test_demo_pipeline_generates_the_asked_clip(name):
    from genvid import GenVidARPipeline, GenVidDiffusionPipeline

    pipeline_class = GenVidDiffusionPipeline if name == "diffusion" else GenVidARPipeline
    pipeline = pipeline_class.from_pretrained(genvid.demo_path(name))
    pipeline.set_progress_bar_config(disable=True)
    options = {"num_inference_steps": 4} if name == "diffusion" else {}
    frames = pipeline("a red circle moving left", num_frames=9, height=64, width=64,
                      generator=torch.Generator().manual_seed(0), **options).frames
    assert frames.shape == (1, 9, 64, 64, 3)
    assert 0 <= frames.min() and frames.max() <= 1 and frames.std() > 0.01


@pytest.mark.parametrize("args", [
    ["--model", "diffusion", "--steps", "4", "--image", "{first}"],
    ["--model", "ar", "--video", "{clip}", "--task", "continue"],
])
def test_generate_command_with_image_and_video(tmp_path, args):
    clip = render_clip("blue", "square", "up", num_frames=17, height=64, width=64)
    write_video(tmp_path / "clip.mp4", clip[:, :5])  # continued to 17 frames
    write_video(tmp_path / "first.gif", clip[:, :1])
    args = [a.format(first=tmp_path / "first.gif", clip=tmp_path / "clip.mp4") for a in args]
    out = tmp_path / "out.mp4"
    result = subprocess.run(
        [sys.executable, "-m", "genvid.cli", "generate", "a blue square moving up", "--output", str(out), *args],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith(str(out))
    assert read_video(out).shape == (3, 17, 64, 64)
