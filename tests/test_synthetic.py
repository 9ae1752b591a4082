import pytest
import torch

from genvid.data import DataConfig, build_dataset, collate_videos
from genvid.data.camera_motion import CameraMotionDataset
from genvid.data.synthetic import (
    ALL_COMBINATIONS,
    COLORS,
    HELDOUT_COMBINATIONS,
    MOTIONS,
    NUM_TEMPLATES,
    SHAPES,
    SyntheticVideoDataset,
    caption_for,
    parse_caption,
    render_clip,
)
from genvid.errors import GenvidError


def test_vocabulary_and_heldout_list():
    assert len(ALL_COMBINATIONS) == 96
    assert len(HELDOUT_COMBINATIONS) == 8 and len(set(HELDOUT_COMBINATIONS)) == 8
    train = set(ALL_COMBINATIONS) - set(HELDOUT_COMBINATIONS)
    # Every single attribute is still seen in training; only the held-out pairings are new.
    assert {c for c, _, _ in train} == set(COLORS)
    assert {s for _, s, _ in train} == set(SHAPES)
    assert {m for _, _, m in train} == set(MOTIONS)
    assert COLORS["red"] == (220, 40, 40) and COLORS["cyan"] == (40, 210, 220)


def test_render_is_deterministic_per_seed():
    first = render_clip("blue", "triangle", "down", num_frames=5, height=32, width=32, seed=3)
    again = render_clip("blue", "triangle", "down", num_frames=5, height=32, width=32, seed=3)
    other = render_clip("blue", "triangle", "down", num_frames=5, height=32, width=32, seed=4)
    assert first.shape == (3, 5, 32, 32) and first.min() >= -1 and first.max() <= 1
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_object_moves_the_right_way():
    for motion, axis, sign in (("left", -1, -1), ("right", -1, 1), ("up", -2, -1), ("down", -2, 1)):
        clip = render_clip("white", "square", motion, num_frames=9, height=64, width=64, seed=0)
        brightness = clip.mean(dim=0)  # (T, H, W)
        other_axis = -2 if axis == -1 else -1
        profile = brightness.mean(dim=other_axis)  # (T, length along the moving axis)
        positions = torch.arange(profile.shape[-1]).float()
        weights = (profile - profile.amin(dim=-1, keepdim=True)).clamp_min(0)
        centre = (weights * positions).sum(-1) / weights.sum(-1)
        travel = float(centre[-1] - centre[0])
        assert sign * travel > 0.3 * 64, (motion, travel)


def test_dataset_deterministic_and_seed_dependent():
    a = SyntheticVideoDataset(num_samples=20, num_frames=5, height=32, width=32, seed=0)
    b = SyntheticVideoDataset(num_samples=20, num_frames=5, height=32, width=32, seed=0)
    c = SyntheticVideoDataset(num_samples=20, num_frames=5, height=32, width=32, seed=1)
    for index in (0, 7):
        assert torch.equal(a[index]["video"], b[index]["video"])
        assert a[index]["caption"] == b[index]["caption"]
        assert not torch.equal(a[index]["video"], c[index]["video"])


@pytest.mark.parametrize("dataset_class", [SyntheticVideoDataset, CameraMotionDataset])
def test_a_clip_with_no_frames_or_pixels_is_refused_when_the_dataset_is_made(dataset_class):
    with pytest.raises(GenvidError, match="width=0"):
        dataset_class(num_samples=2, num_frames=5, height=16, width=0)
    with pytest.raises(GenvidError, match="num_frames=0"):
        dataset_class(num_samples=2, num_frames=0, height=16, width=16)


def test_heldout_never_in_train_and_heldout_split_only_heldout():
    heldout = set(HELDOUT_COMBINATIONS)
    for seed in (0, 1):
        train = SyntheticVideoDataset("train", num_samples=2000, seed=seed)
        seen = {(l["color"], l["shape"], l["motion"]) for l in map(train.labels, range(len(train)))}
        assert not seen & heldout
        assert len(seen) == 96 - 8  # balanced: every training combination appears
    held = SyntheticVideoDataset("heldout", num_samples=200, seed=5)
    assert {(l["color"], l["shape"], l["motion"]) for l in map(held.labels, range(200))} == heldout
    everything = SyntheticVideoDataset("all", num_samples=96, seed=0)
    assert {(l["color"], l["shape"], l["motion"]) for l in map(everything.labels, range(96))} == set(ALL_COMBINATIONS)


def test_captions_match_labels():
    dataset = SyntheticVideoDataset("all", num_samples=400, seed=2)
    templates_seen = set()
    for index in range(len(dataset)):
        labels = dataset.labels(index)
        assert parse_caption(labels["caption"]) == (labels["color"], labels["shape"], labels["motion"])
        templates_seen.add(labels["caption"].replace(labels["color"], "C").replace(labels["shape"], "S"))
    assert len(templates_seen) > 10  # wording varies
    for template in range(NUM_TEMPLATES):
        assert parse_caption(caption_for("orange", "triangle", "up", template)) == ("orange", "triangle", "up")
    assert caption_for("red", "circle", "left", 0) == "a red circle moving left"
    assert caption_for("red", "circle", "left", 1) == "a red circle moves to the left"
    assert caption_for("orange", "square", "up", 0) == "an orange square moving up"


def test_soundtrack_matches_clip_and_labels():
    from genvid.data.synthetic import render_audio

    dataset = SyntheticVideoDataset("all", num_samples=3, num_frames=9, height=16, width=16, fps=8, audio_sample_rate=8000)
    item = dataset[0]
    assert item["audio"].shape == (9000,) and item["audio"].abs().max() <= 1
    assert torch.equal(item["audio"], dataset[0]["audio"])
    # Pitch names the colour: the dominant frequency of a steady (left-moving) sine is the note.
    tone = render_audio("red", "circle", "left", num_frames=16, fps=8, sample_rate=8000)
    spectrum = torch.fft.rfft(tone).abs()
    assert abs(float(spectrum.argmax()) / 2.0 - 261.6) < 2  # 2 s of audio: 0.5 Hz bins
    louder_late = render_audio("red", "circle", "right", num_frames=16, fps=8, sample_rate=8000)
    assert louder_late[-4000:].abs().mean() > 2 * louder_late[:4000].abs().mean()


def test_build_dataset_and_collate():
    dataset = build_dataset(DataConfig(num_samples=8, num_frames=5, height=16, width=16, split="heldout"))
    batch = collate_videos([dataset[0], dataset[1], None, dataset[2]])
    assert batch["video"].shape == (3, 3, 5, 16, 16)
    assert len(batch["caption"]) == 3 and len(batch["color"]) == 3


def test_synth_command_writes_clips_and_manifest(tmp_path):
    import json

    from genvid.cli import main
    from genvid.data import FolderVideoDataset

    out = tmp_path / "synth"
    assert main(["dataset", "synth", "--out", str(out), "--num", "3", "--split", "heldout", "--seed", "4",
                 "--num-frames", "5", "--height", "32", "--width", "32"]) == 0
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert (row["color"], row["shape"], row["motion"]) in HELDOUT_COMBINATIONS
        assert parse_caption(row["caption"]) == (row["color"], row["shape"], row["motion"])
    dataset = FolderVideoDataset(out / "manifest.jsonl", num_frames=5, height=32, width=32, random_start=False)
    assert dataset[0]["video"].shape == (3, 5, 32, 32) and dataset.num_skipped == 0


def test_object_path_is_where_a_tracker_finds_the_object():
    # The keyframe measurement compares generated centres with object_path: on true clips the
    # analyzer's tracker must find the object exactly there, for every shape (the triangle's centre
    # of area sits below its box centre).
    import numpy as np

    from genvid.data.synthetic import object_path
    from genvid.eval.analyzer import object_centres

    for index, combination in enumerate([("red", "circle", "left"), ("blue", "triangle", "up"), ("white", "square", "down")]):
        truth = object_path(*combination, num_frames=9, seed=index)
        assert truth.shape == (9, 2)
        assert np.abs(object_centres(render_clip(*combination, num_frames=9, seed=index)) - truth).max() < 0.1
    moved = object_path("red", "circle", "right", num_frames=9, seed=0)
    assert moved[-1, 0] - moved[0, 0] > 0.3 * 64 and np.allclose(moved[:, 1], moved[0, 1])


def test_a_long_clip_keeps_the_short_clips_speed_and_wraps_around_the_frame():
    import numpy as np

    from genvid.data.synthetic import object_path, render_clip_uint8
    from genvid.errors import GenvidError

    short = object_path("green", "square", "left", num_frames=17, seed=5)
    long = object_path("green", "square", "left", num_frames=129, seed=5, travel_frames=17)
    assert np.allclose(long[:17], short)  # the same start and speed as the 17-frame clip
    step = np.diff(long[:, 0])
    speed = step[0]
    assert speed < -1.5 and np.allclose(np.mod(step, 64), np.mod(speed, 64))  # never stops or turns back
    assert (long[:, 0] >= 0).all() and (long[:, 0] < 64).all()
    frames = render_clip_uint8("green", "square", "left", num_frames=129, seed=5, travel_frames=17)
    area = (frames.max(axis=-1) > 100).sum(axis=(1, 2))
    assert area.min() > 0.9 * area.max()  # the whole object is drawn in every frame, across the edges too
    bright = frames.max(axis=-1) > 100
    assert (bright[:, :, 0].any(axis=1) & bright[:, :, -1].any(axis=1)).any()  # split over both edges while crossing
    # a clip of one crossing is the same with or without travel_frames
    assert np.array_equal(render_clip_uint8("red", "circle", "up", 17, seed=2, travel_frames=17),
                          render_clip_uint8("red", "circle", "up", 17, seed=2))
    with pytest.raises(GenvidError, match="travel_frames"):
        render_clip_uint8("red", "circle", "up", 17, travel_frames=1)
    dataset = SyntheticVideoDataset(num_samples=2, num_frames=33, travel_frames=17)
    assert dataset[0]["video"].shape == (3, 33, 64, 64)


def test_a_phase_starts_the_clip_further_along_its_wrapping_path():
    import numpy as np

    from genvid.data.synthetic import object_path, render_clip_uint8
    from genvid.errors import GenvidError

    # phase 0 is today's clip, byte for byte, with or without travel_frames
    for options in ({}, {"travel_frames": 17}, {"num_frames": 33, "travel_frames": 17}):
        assert np.array_equal(render_clip_uint8("red", "circle", "up", seed=2, phase=0.0, **options),
                              render_clip_uint8("red", "circle", "up", seed=2, **options))
    # half a lap further: the same speed, every centre half the frame on along the motion
    start = object_path("green", "square", "left", seed=5, travel_frames=17)
    later = object_path("green", "square", "left", seed=5, travel_frames=17, phase=0.5)
    assert np.allclose(np.mod(start[:, 0] - 32, 64), later[:, 0]) and np.allclose(start[:, 1], later[:, 1])
    # half a lap on, a rightward clip crosses the right edge and comes in at the left one
    path = object_path("blue", "circle", "right", seed=1, travel_frames=17, phase=0.5)
    assert (np.diff(path[:, 0]) < 0).sum() == 1  # wrapped once, at the 17-frame speed otherwise
    frames = render_clip_uint8("blue", "circle", "right", seed=1, travel_frames=17, phase=0.5)
    bright = frames.max(axis=-1) > 100
    assert (bright[:, :, 0].any(axis=1) & bright[:, :, -1].any(axis=1)).any()
    area = bright.sum(axis=(1, 2))
    assert area.min() > 0.9 * area.max()  # drawn whole in every frame
    with pytest.raises(GenvidError, match="phase"):
        render_clip_uint8("red", "circle", "up", phase=float("nan"))


def test_dataset_phases_are_deterministic_and_phase_zero_keeps_today_s_clips():
    import numpy as np

    from genvid.errors import GenvidError
    from genvid.eval.analyzer import analyze_clip

    options = dict(num_samples=48, num_frames=17, height=32, width=32, seed=3, travel_frames=17)
    today = SyntheticVideoDataset(**{k: v for k, v in options.items() if k != "travel_frames"})
    unphased = SyntheticVideoDataset(**options, phase_probability=0.0)
    phased = SyntheticVideoDataset(**options, phase_probability=0.75)
    again = SyntheticVideoDataset(**options, phase_probability=0.75)
    other_seed = SyntheticVideoDataset(**{**options, "seed": 4}, phase_probability=0.75)
    phases = [phased.labels(index)["phase"] for index in range(48)]
    assert phases == [again.labels(index)["phase"] for index in range(48)]
    assert phases != [other_seed.labels(index)["phase"] for index in range(48)]
    assert 24 <= sum(phase > 0 for phase in phases) <= 44 and all(0 <= phase < 1 for phase in phases)
    for index in range(48):
        assert torch.equal(unphased[index]["video"], today[index]["video"])
        item, labels = phased[index], phased.labels(index)
        # the caption, the combination and the clip's own draws stay those of phase_probability 0
        assert {key: item[key] for key in ("caption", "color", "shape", "motion")} == \
            {key: today[index][key] for key in ("caption", "color", "shape", "motion")}
        assert labels["clip_seed"] == today.labels(index)["clip_seed"]
        assert torch.equal(item["video"], again[index]["video"])
        assert torch.equal(item["video"], render_clip(item["color"], item["shape"], item["motion"], 17, 32, 32,
                                                      labels["clip_seed"], 17, labels["phase"]))
        assert torch.equal(item["video"], today[index]["video"]) == (labels["phase"] == 0)
        assert item["phase"] == labels["phase"] and "phase" not in today[index]  # what the DiT task reads
        # what the clip shows is still its caption, across the frame's edge too
        found = analyze_clip(item["video"])
        assert (found["color"], found["shape"], found["motion"]) == (item["color"], item["shape"], item["motion"])
    config = build_dataset({"source": "synthetic", "num_samples": 4, "travel_frames": 17, "phase_probability": 0.5})
    assert config.phase_probability == 0.5
    with pytest.raises(GenvidError, match="phase_probability"):
        SyntheticVideoDataset(num_samples=2, phase_probability=1.5)
