"""The AR pipeline past one window: rolling forward on its own last latent frames, continuation's
default length, and in/outpainting whose target is the region alone (the kept tokens once)."""

import torch

from genvid.models.ar_tasks import TASKS, TaskInputs
from tests.test_lm_pipeline import SIZE, clip, pipeline  # noqa: F401 (fixture)

SMALL = dict(height=16, width=16, temperature=3.0, output_type="latent")


def run(pipe, prompt="a circle", seed=0, **kwargs):
    return pipe(prompt, generator=torch.Generator().manual_seed(seed), **{**SMALL, **kwargs}).frames


def test_a_long_video_rolls_forward_in_windows_of_the_training_length(pipeline):
    lengths = []
    forward = pipeline.transformer.forward
    pipeline.transformer.forward = lambda ids, *args, **kwargs: lengths.append(ids.shape[1]) or forward(ids, *args, **kwargs)
    try:
        long = run(pipeline, num_frames=21, window_frames=9, context_frames=1)
    finally:
        pipeline.transformer.forward = forward
    assert long.shape == (1, 6, 2, 2)  # 21 frames: 6 latent frames of 2 x 2 tokens
    # no forward pass holds more than one window's sequence: 6 special + 8 text + 3 frames x 4 tokens
    assert max(lengths) <= 6 + 8 + 3 * 4
    first = run(pipeline, num_frames=9, window_frames=None)  # the same draws make the first window
    assert torch.equal(long[:, :3], first)
    assert torch.equal(run(pipeline, num_frames=21, window_frames=9, context_frames=1), long)


def test_each_window_continues_on_the_frames_before_it(pipeline):
    # the tiny random tokenizer gives most clips the same ids; these two it tells apart
    one, other = torch.full((3, 9, 16, 16), -1.0), torch.full((3, 9, 16, 16), 1.0)
    given = [pipeline.video_tokenizer.tokenize(video[None]) for video in (one, other)]
    rolled = [run(pipeline, video=video, num_frames=21, window_frames=9, context_frames=1, temperature=0)
              for video in (one, other)]
    assert not torch.equal(given[0][:, -1], given[1][:, -1])
    for ids, tokens in zip(rolled, given):
        assert torch.equal(ids[:, :3], tokens)  # the given clip comes back as it was
    # greedy, same text: only what came before differs, and the new frames follow it
    assert not torch.equal(rolled[0][:, 3:], rolled[1][:, 3:])


def test_continuing_a_clip_needs_no_num_frames(pipeline):
    video = clip(frames=5)
    ids = run(pipeline, video=video)  # 5 frames + one window (16 more) = 21 frames
    assert ids.shape == (1, 6, 2, 2)
    assert torch.equal(ids[:, :2], pipeline.video_tokenizer.tokenize(video[None]))


def test_inpainting_targets_the_region_alone_and_keeps_the_rest_exactly(pipeline):
    video = clip()
    given = pipeline.video_tokenizer.tokenize(video[None])
    mask = torch.zeros(5, 16, 16, dtype=torch.bool)
    mask[:, 8:, 8:] = True  # the bottom-right token of both latent frames
    inputs = TASKS["inpaint"].sized(TaskInputs(None, 16, 16, video=video[None], mask=mask))
    example = TASKS["inpaint"].prepare(pipeline, inputs, 1, "cpu")
    assert example.target_length == 2 and example.condition_ids.shape[1] == 8  # 8 conditioning + 2, not 8 + 8
    inpainted = [run(pipeline, video=video, mask=mask, seed=seed) for seed in range(3)]
    keep = ~mask[None, ::4, ::8, ::8].expand(1, 2, 2, 2)
    for ids in inpainted:
        assert torch.equal(ids[keep], given[keep])
    assert any(not torch.equal(ids[~keep], given[~keep]) for ids in inpainted)  # the region is generated
    # outpainting the same mask's outside keeps the bottom-right tokens
    outpainted = run(pipeline, video=video, mask=~mask, task="outpaint")
    assert torch.equal(outpainted[~keep], given[~keep])


def test_keyframes_are_temporal_inpainting_that_keeps_their_latent_frames(pipeline):
    from genvid.pipelines.conditioning import keyframe_guide

    first, last = torch.full((3, 16, 16), -1.0), torch.full((3, 16, 16), 1.0)
    keyframes = [(first, 0), (last, 8)]  # 9 frames: latent frames 0 and 2 given, latent frame 1 generated
    inputs = TASKS["keyframes"].sized(TaskInputs(9, 16, 16, keyframes=keyframes))
    example = TASKS["keyframes"].prepare(pipeline, inputs, 1, "cpu")
    assert example.target_length == 4  # one latent frame of 2 x 2 tokens, not the clip's 12
    assert TASKS["keyframes"].token_id == TASKS["inpaint"].token_id  # the request inpainting was trained on
    ids = run(pipeline, keyframes=keyframes, num_frames=9, temperature=0)
    guide = pipeline.video_tokenizer.tokenize(keyframe_guide(keyframes, 9, 16, 16))
    assert ids.shape == (1, 3, 2, 2)
    assert torch.equal(ids[:, [0, 2]], guide[:, [0, 2]])
    # greedy, same text: another last keyframe changes the frames generated before it
    other = run(pipeline, keyframes=[(first, 0), (torch.zeros(3, 16, 16), 8)], num_frames=9, temperature=0)
    assert not torch.equal(other[:, 1], ids[:, 1])


def test_keyframes_in_every_latent_frame_leave_nothing_to_generate(pipeline):
    import pytest

    from genvid.errors import GenvidError

    image = torch.zeros(3, 16, 16)
    with pytest.raises(GenvidError, match="nothing is left to generate"):
        run(pipeline, keyframes=[(image, 0), (image, 4)], num_frames=5)
