import numpy as np
import torch

from genvid.data import read_frames, write_video
from genvid.data.synthetic import ALL_COMBINATIONS, caption_for, object_path, render_clip, render_clip_uint8
from genvid.eval.analyzer import analyze_clip, evaluate_prompt_following, object_centres


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


def _long_windows(num_frames: int, window: int = 17) -> list[tuple[int, int]]:
    """The 17-frame windows genvid eval long reads (each starting on the previous one's last frame)."""
    return [(start, start + window) for start in range(0, num_frames - window + 1, window - 1)]


def test_reads_every_window_of_every_true_long_clip():
    """129 frames at the 17-frame speed wrap around the frame four times: every 17-frame window of
    every combination (seen and held-out) reads right, the windows spanning a wrap included. Read as
    plain positions, those windows read the opposite motion (the centroid jumps across the frame)."""
    wrong, total = [], 0
    for index, combination in enumerate(ALL_COMBINATIONS):
        clip = render_clip(*combination, num_frames=129, height=32, width=32, seed=index, travel_frames=17)
        for start, end in _long_windows(129):
            found = analyze_clip(clip[:, start:end])
            total += 1
            if (found["color"], found["shape"], found["motion"]) != combination:
                wrong.append((combination, start, found["color"], found["shape"], found["motion"]))
    assert total == 768 and wrong == []
    opposite = {"left": "right", "right": "left", "up": "down", "down": "up"}
    for index, combination in enumerate([("red", "circle", "left"), ("blue", "triangle", "up")]):
        clip = render_clip(*combination, num_frames=129, height=32, width=32, seed=index, travel_frames=17)
        plain = [analyze_clip(clip[:, start:end], wraps=False)["motion"] for start, end in _long_windows(129)]
        assert plain.count(opposite[combination[2]]) >= 3, plain


def test_reading_a_wrapping_frame_changes_nothing_on_clips_that_do_not_wrap():
    """Every combination, sharp and blurred: the reading, every measurement behind it and the
    tracker's centres are exactly those of plain positions."""
    for index, combination in enumerate(ALL_COMBINATIONS):
        size = 64 if index % 8 == 0 else 32
        clip = render_clip(*combination, 9, size, size, seed=index)
        blurred = torch.nn.functional.avg_pool2d(clip, 3, stride=1, padding=1, count_include_pad=False)
        for video in (clip, blurred):
            assert analyze_clip(video) == analyze_clip(video, wraps=False)
        assert np.array_equal(object_centres(clip), object_centres(clip, wraps=False), equal_nan=True)


def test_tracker_finds_the_object_across_the_frame_s_edge():
    """On wrapping clips (long, or started at a phase) the tracker's centre is object_path's, the
    object cut by an edge included: within 0.15 px around the frame's circle."""
    for index, combination in enumerate([("red", "circle", "left"), ("blue", "triangle", "up"),
                                         ("white", "square", "down"), ("cyan", "triangle", "right")]):
        for num_frames, phase in ((65, 0.0), (17, 0.3 + 0.15 * index)):
            options = dict(num_frames=num_frames, seed=index, travel_frames=17, phase=phase)
            truth = object_path(*combination, **options)
            found = object_centres(render_clip(*combination, **options))
            assert np.abs(np.mod(found - truth + 32, 64) - 32).max() < 0.15
            if num_frames == 65:  # it crosses an edge twice: read plainly, a cut object's halves average mid-frame
                plain = object_centres(render_clip(*combination, **options), wraps=False)
                assert np.abs(np.mod(plain - truth + 32, 64) - 32).max() > 20
