"""genvid eval long: windows the analyzer reads, seams found where windows join, and the command
end to end on a tiny AR pipeline folder."""

import json

import pytest
import torch

from genvid.data.synthetic import render_clip
from genvid.eval.long_video import frame_windows, seam_changes, seam_ratios, summarize, window_readings
from tests.test_lm_pipeline import pipeline  # noqa: F401 (fixture)


def test_windows_of_a_long_clip_share_their_edge_frames():
    assert frame_windows(17) == [(0, 17)]
    spans = frame_windows(129)
    assert len(spans) == 8 and spans[-1] == (112, 129)
    assert all(later[0] == earlier[1] - 1 for earlier, later in zip(spans, spans[1:]))


def test_each_window_is_read_on_its_own():
    # 33 frames: its first window a red circle moving right, its second a blue square moving up
    first = render_clip("red", "circle", "right", num_frames=17, seed=1)
    second = render_clip("blue", "square", "up", num_frames=17, seed=2)
    clip = torch.cat([first, second[:, 1:]], dim=1)
    readings = window_readings(clip, ("red", "circle", "right"))
    assert [reading["read"] for reading in readings] == [["red", "circle", "right"], ["blue", "square", "up"]]
    assert [reading["all"] for reading in readings] == [True, False]


def test_seams_are_where_each_window_s_new_frames_begin():
    # 17-frame windows (5 latent frames) continuing on 2: new latent frames start at 5, 8, 11
    assert seam_changes(49, 17, 2, 4) == [16, 28, 40]
    assert seam_changes(17, 17, 2, 4) == []


def test_a_jump_at_a_seam_stands_out_and_a_smooth_clip_has_none():
    clip = render_clip("green", "square", "right", num_frames=49, seed=0)
    smooth = seam_ratios(clip, [16, 28, 40])
    assert max(smooth) < 1.5
    jumped = clip.clone()
    jumped[:, 29:] = torch.roll(clip[:, 29:], shifts=12, dims=3)  # the object jumps 12 px at frame 29
    ratios = seam_ratios(jumped, [16, 28, 40])
    assert ratios[1] > 2.0 and max(ratios[0], ratios[2]) < 1.5


def test_summary_counts_every_window_of_every_clip():
    labels = [("red", "circle", "right"), ("blue", "square", "up")]
    clips = [render_clip(*label, num_frames=49, seed=index) for index, label in enumerate(labels)]
    report = summarize(labels, clips, 17, 2, 4)
    assert report["num_windows"] == 6 and report["seams_per_clip"] == 3
    assert report["all_windows"] == 1.0 and report["seams_within_limit"] == 1.0
    assert report["true_clip_all_windows"] == 1.0  # the true clips wrap around the frame, and read right
    report = summarize(labels[::-1], clips, 17, 2, 4)  # every label wrong in colour and shape
    assert report["color_windows"] == 0.0 and report["shape_windows"] == 0.0


def test_eval_long_runs_on_a_pipeline_folder(pipeline, tmp_path, capsys):
    from genvid.cli import main

    pipeline.save_pretrained(tmp_path / "ar")
    output = tmp_path / "long.json"
    arguments = ["eval", "long", "--pipeline", str(tmp_path / "ar"), "--num-frames", "33", "--height", "16",
                 "--width", "16", "--lengths", "5", "21", "--output", str(output)]
    assert main(arguments) == 0
    report = json.loads(output.read_text())
    heldout = report["splits"]["heldout"]
    assert heldout["num_clips"] == 8 and heldout["num_windows"] == 16 and heldout["seams_per_clip"] == 2  # 9 latent frames: windows [0, 5), [3, 8), [4, 9)
    assert [record["num_frames"] for record in report["lengths"]] == [5, 21]
    assert report["lengths"][1]["output_gb"] > report["lengths"][0]["output_gb"]
    capsys.readouterr()
    assert main(arguments[:5] + ["20"]) == 2  # not 1 + 16k: one line, no traceback
    assert "--num-frames must be 1 + 16k" in capsys.readouterr().err


@pytest.mark.parametrize("frames", [9])
def test_a_clip_shorter_than_a_window_is_refused(frames):
    from genvid.errors import GenvidError

    with pytest.raises(GenvidError, match="holds no 17-frame window"):
        frame_windows(frames)
