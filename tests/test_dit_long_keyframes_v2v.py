"""DiT conditioning beyond the first frame: long video window by window, keyframes at any
positions, video-to-video (strength) and stylization from a grey-level map; and the training draws
that teach them (clean prefixes, clean keyframes)."""

import pytest
import torch

from genvid.errors import GenvidError
from genvid.pipelines.conditioning import grey_structure, latent_index, windows
from genvid.training.tasks.dit import DiffusionOptions, draw_clean_frames
from tests.test_dit_pipeline import STEPS, pipe, text_encoder  # noqa: F401 (fixtures)

SIZE = dict(height=16, width=16, num_inference_steps=STEPS, guidance_scale=3.0)


def run(pipe, num_frames, seed=0, **kwargs):
    options = dict(SIZE, num_frames=num_frames, generator=torch.Generator().manual_seed(seed), output_type="latent")
    options.update(kwargs)
    return pipe("a red circle moving right", **options).frames


def test_windows_cover_the_video_and_overlap_by_the_context():
    assert windows(5, 5, 2) == [(0, 5)]
    assert windows(12, 5, 2) == [(0, 5), (3, 8), (6, 11), (7, 12)]
    for total in range(2, 40):
        spans = windows(total, 5, 2)
        assert spans[0][0] == 0 and spans[-1][1] == total
        assert all(end - start <= 5 for start, end in spans)
        assert all(later[0] <= earlier[1] - 2 for earlier, later in zip(spans, spans[1:]))
    with pytest.raises(GenvidError, match="context"):
        windows(10, 3, 3)
    assert [latent_index(frame) for frame in (0, 1, 4, 5, 8)] == [0, 1, 1, 2, 2]


def test_a_long_video_is_made_window_by_window_on_its_own_last_frames(pipe):
    seen = []
    forward = pipe.transformer.forward
    pipe.transformer.forward = lambda x, *args, **kwargs: seen.append(x.shape[2]) or forward(x, *args, **kwargs)
    try:
        noise = torch.randn(1, 4, 6, 4, 4, generator=torch.Generator().manual_seed(3))  # 21 frames
        long = run(pipe, 21, segment_frames=9, context_frames=1, latents=noise)
    finally:
        pipe.transformer.forward = forward
    assert long.shape == (1, 4, 6, 4, 4)
    assert max(seen) == 3  # the model never sees more than one 9-frame window (3 latent frames)
    # the first window is the short video made from the same noise
    short = run(pipe, 9, latents=noise[:, :, :3], segment_frames=None)
    torch.testing.assert_close(long[:, :, :3], short)
    # later windows continue on what came before: change only the first window's noise and the
    # frames of the later windows (whose own noise is unchanged) change too
    changed = noise.clone()
    changed[:, :, :2] = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(4))
    other = run(pipe, 21, segment_frames=9, context_frames=1, latents=changed)
    assert not torch.allclose(other[:, :, 3:], long[:, :, 3:], atol=1e-4)
    # decoded as one stream by the causal tokenizer
    frames = run(pipe, 21, segment_frames=9, context_frames=1, latents=noise, output_type="pt")
    assert frames.shape == (1, 21, 3, 16, 16)


def test_keyframes_are_kept_in_their_latent_frames_and_steer_the_frames_between(pipe):
    generator = torch.Generator().manual_seed(0)
    first, last = (torch.rand(3, 16, 16, generator=generator) * 2 - 1 for _ in range(2))
    latents = run(pipe, 9, keyframes=[(first, 0), (last, 8)])
    # the causal tokenizer's latent frames of a clip holding each keyframe: what sampling keeps
    from genvid.pipelines.conditioning import keyframe_guide

    tokenizer = pipe.video_tokenizer
    with torch.no_grad():
        guide = tokenizer.normalize_latents(tokenizer.encode(keyframe_guide([(first, 0), (last, 8)], 9, 16, 16)))
    torch.testing.assert_close(latents[:, :, 0], guide[:, :, 0])
    torch.testing.assert_close(latents[:, :, 2], guide[:, :, 2])
    again = run(pipe, 9, keyframes=[(first, 0), (last, 8)])
    assert torch.equal(latents, again)
    # another last keyframe changes the middle frame too (the model attends to it)
    other = run(pipe, 9, keyframes=[(first, 0), (-last, 8)])
    assert not torch.allclose(other[:, :, 1], latents[:, :, 1], atol=1e-4)
    with pytest.raises(GenvidError, match="same latent frame"):
        run(pipe, 9, keyframes=[(first, 5), (last, 8)])
    with pytest.raises(GenvidError, match="outside"):
        run(pipe, 9, keyframes=[(first, 9)])


def test_video_to_video_starts_from_the_input_noised_to_the_strength(pipe):
    generator = torch.Generator().manual_seed(1)
    clip = torch.rand(3, 5, 16, 16, generator=generator) * 2 - 1
    tokenizer = pipe.video_tokenizer
    with torch.no_grad():
        source = tokenizer.normalize_latents(tokenizer.encode(clip[None]))
    torch.testing.assert_close(run(pipe, 5, video=clip, strength=0.0), source)
    distance = {
        strength: float((run(pipe, 5, video=clip, strength=strength) - source).pow(2).mean())
        for strength in (0.34, 1.0)
    }
    assert distance[0.34] < distance[1.0]
    assert torch.equal(run(pipe, 5, video=clip, strength=0.34), run(pipe, 5, video=clip, strength=0.34))
    with pytest.raises(GenvidError, match="expected"):
        run(pipe, 9, video=clip)


def test_stylization_follows_the_grey_level_map_not_the_colours(pipe):
    generator = torch.Generator().manual_seed(2)
    clip = torch.rand(3, 5, 16, 16, generator=generator) * 2 - 1
    styled = run(pipe, 5, video=clip, strength=0.6, structure="grey")
    plain = run(pipe, 5, video=clip, strength=0.6)
    assert not torch.allclose(styled, plain, atol=1e-4)
    # other colours with the same luma give the same map, so the same stylized output
    shift = torch.tensor([0.3, -0.2, -(0.299 * 0.3 - 0.587 * 0.2) / 0.114])  # no change of luma
    recoloured = clip + shift[:, None, None, None] * 0.5
    torch.testing.assert_close(grey_structure(recoloured[None]), grey_structure(clip[None]), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(run(pipe, 5, video=recoloured, structure="grey"), run(pipe, 5, video=clip, structure="grey"))
    # moving the object moves the output: the map carries structure and motion
    shifted = run(pipe, 5, video=torch.roll(clip, 8, dims=-1), strength=0.6, structure="grey")
    assert not torch.allclose(shifted, styled, atol=1e-4)
    with pytest.raises(GenvidError, match="structure must be one of"):
        run(pipe, 5, video=clip, structure="edges")


def test_training_draws_clean_prefixes_and_keyframes():
    generator = torch.Generator().manual_seed(0)
    prefix = draw_clean_frames(400, 6, DiffusionOptions(tokenizer="x", prefix_probability=1.0, prefix_frames_max=3), generator)
    lengths = prefix.sum(dim=1)
    assert set(lengths.tolist()) == {1, 2, 3}
    assert torch.equal(prefix, torch.arange(6)[None] < lengths[:, None])  # always a prefix
    keys = draw_clean_frames(400, 6, DiffusionOptions(tokenizer="x", keyframe_probability=1.0, keyframe_share=0.5), generator)
    assert (~keys).any(dim=1).all()  # a frame is always left to learn on
    assert keys[:, 1:].any() and 0.3 < keys.float().mean() < 0.6  # at any position
    assert draw_clean_frames(4, 6, DiffusionOptions(tokenizer="x"), generator) is None


def test_phased_clips_always_continue_a_prefix_and_phase_zero_clips_keep_their_draws():
    odds = dict(tokenizer="x", first_frame_probability=0.2, prefix_probability=0.15, keyframe_probability=0.15)
    phased = torch.arange(2000) % 2 == 0

    def draw(phases=None, **options):
        generator = torch.Generator().manual_seed(0)
        clean = draw_clean_frames(2000, 5, DiffusionOptions(**{**odds, **options}), generator, phases)
        return clean, torch.rand(1, generator=generator)  # and what the step draws next

    today, after = draw()
    off, off_after = draw(phased)  # the option off: phases are ignored, the draws are today's
    assert torch.equal(off, today) and torch.equal(off_after, after)
    coupled, coupled_after = draw(phased, prefix_for_phased_clips=True)
    assert torch.equal(coupled, draw(phased, prefix_for_phased_clips=True)[0])  # deterministic
    assert torch.equal(coupled_after, after)  # no extra draws: the step's later noise stays the same
    lengths = coupled[phased].sum(dim=1)
    assert set(lengths.tolist()) == {1, 2}  # 1..prefix_frames_max
    assert torch.equal(coupled[phased], torch.arange(5)[None] < lengths[:, None])  # every phased clip a prefix
    assert torch.equal(coupled[~phased], today[~phased])  # phase 0: exactly today's draws and odds
    assert 0.4 < (~coupled[~phased].any(dim=1)).float().mean() < 0.6  # half of them text-to-video
    alone, _ = draw(phased, prefix_for_phased_clips=True, first_frame_probability=0.0, prefix_probability=0.0,
                    keyframe_probability=0.0)  # nothing else drawn: phased clips still continue a prefix
    assert alone[phased].any(dim=1).all() and not alone[~phased].any()
