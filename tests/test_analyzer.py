import torch

from genvid.data import read_frames, write_video
from genvid.data.synthetic import ALL_COMBINATIONS, caption_for, render_clip, render_clip_uint8
from genvid.eval.analyzer import analyze_clip, evaluate_prompt_following


def test_reads_ground_truth_clips():
    """200+ clips: every combination at several seeds and sizes; >= 99% fully right."""
    right, total = 0, 0
    sizes = [(17, 64, 64), (9, 32, 32), (5, 48, 64)]
    for repeat in range(3):
        for index, (color, shape, motion) in enumerate(ALL_COMBINATIONS):
            num_frames, height, width = sizes[(index + repeat) % len(sizes)]
            clip = render_clip_uint8(color, shape, motion, num_frames, height, width, seed=1000 * repeat + index)
            found = analyze_clip(clip)
            right += (found["color"], found["shape"], found["motion"]) == (color, shape, motion)
            total += 1
    assert total >= 200
    assert right / total >= 0.99


def test_reads_clips_after_mp4_round_trip(tmp_path):
    right = 0
    combinations = ALL_COMBINATIONS[::5]  # all colours, shapes and motions
    for index, combination in enumerate(combinations):
        clip = render_clip(*combination, num_frames=9, height=64, width=64, seed=index)
        decoded = read_frames(write_video(tmp_path / "clip.mp4", clip))
        found = analyze_clip(decoded)
        right += (found["color"], found["shape"], found["motion"]) == combination
    assert right / len(combinations) >= 0.99


def test_float_input_and_nothing_to_see():
    clip = render_clip("cyan", "triangle", "down", num_frames=9, height=32, width=32, seed=3)
    found = analyze_clip(clip)
    assert (found["color"], found["shape"], found["motion"]) == ("cyan", "triangle", "down")
    empty = analyze_clip(torch.full((3, 9, 32, 32), -0.8))
    assert empty["color"] is None and empty["shape"] is None and empty["motion"] is None
    noise = analyze_clip(torch.rand(3, 9, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    assert noise["color"] is None and noise["shape"] is None and noise["motion"] is None
    still = analyze_clip(clip[:, :1].expand(-1, 9, -1, -1))
    assert still["color"] == "cyan" and still["motion"] is None


def test_evaluate_prompt_following():
    combos = [("red", "circle", "left"), ("green", "square", "up")]
    clips = [render_clip(*combo, num_frames=9, height=32, width=32, seed=0) for combo in combos]
    captions = [caption_for(*combo, template=2) for combo in combos]
    scores = evaluate_prompt_following(clips, captions)
    assert scores["all_accuracy"] == 1.0 and scores["num_clips"] == 2
    swapped = evaluate_prompt_following(clips, [("red", "square", "left"), {"color": "red", "shape": "circle", "motion": "up"}])
    assert swapped["all_accuracy"] == 0.0
    assert swapped["color_accuracy"] == 0.5 and swapped["shape_accuracy"] == 0.0 and swapped["motion_accuracy"] == 1.0


def test_robust_to_blur_like_a_decoder_leaves():
    """A 3x3 box blur (about what a small tokenizer's reconstruction does) on 32x32 and 64x64 clips."""
    right, total = 0, 0
    for index, combination in enumerate(ALL_COMBINATIONS):
        size = 32 if index % 2 else 64
        clip = render_clip(*combination, num_frames=5, height=size, width=size, seed=index)
        blurred = torch.nn.functional.avg_pool2d(clip, 3, stride=1, padding=1, count_include_pad=False)
        found = analyze_clip(blurred)
        right += (found["color"], found["shape"], found["motion"]) == combination
        total += 1
    assert right / total >= 0.97
