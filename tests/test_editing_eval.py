"""genvid eval edit: the masks put the object wholly in the regenerated region (and fit the demo's
context), the object's centre is found per frame, and the measurements run on a tiny AR pipeline."""

import numpy as np
import torch

from genvid.data.synthetic import HELDOUT_COMBINATIONS, render_clip
from genvid.eval.editing import editing_masks, evaluate_editing, object_centres, object_pixels
from tests.test_lm_pipeline import pipeline  # noqa: F401 (fixture)


def test_masks_hold_the_object_in_the_region_and_fit_the_demo_context():
    for index, combination in enumerate(HELDOUT_COMBINATIONS):
        clip = render_clip(*combination, num_frames=17, height=64, width=64, seed=index)
        masks = editing_masks(clip, 8)
        pixels = torch.from_numpy(object_pixels(clip))
        for name, mask in masks.items():
            assert mask.shape == (17, 64, 64)
            assert mask[pixels].all(), name  # every object pixel is regenerated
            # 5 latent frames x the region's cells: at most 256 target tokens (6 + 32 + 320 + 256 <= 640)
            assert 0 < int(mask[0].reshape(8, 8, 8, 8).any(dim=(1, 3)).sum()) * 5 <= 256, name
        assert not torch.equal(masks["inpaint"], masks["outpaint"])


def test_the_object_centre_follows_the_render():
    clip = render_clip("red", "square", "right", num_frames=9, height=64, width=64, seed=0)
    centres = object_centres(clip)
    assert np.all(np.diff(centres[:, 0]) > 0) and np.ptp(centres[:, 1]) < 1  # moving right, level
    blank = torch.full_like(clip, clip[0, 0, 0, 0].item())
    assert np.isnan(object_centres(blank)).all()


def test_editing_runs_and_keeps_the_kept_tokens(pipeline):
    report = evaluate_editing(pipeline, HELDOUT_COMBINATIONS[:2], ("inpaint", "outpaint", "keyframes"),
                              size=(9, 16, 16), temperature=2.0)
    for task in ("inpaint", "outpaint"):
        assert report[task]["num_clips"] == 2 and report[task]["kept_exact"] == 1.0
        assert all(record["region_tokens"] > 0 for record in report[task]["clips"])
    assert report["keyframes"]["num_clips"] == 2 and report["keyframes"]["clips"][0]["frames_between"] == 7
