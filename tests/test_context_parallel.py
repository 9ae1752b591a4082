"""Context parallel x2 (the DiT's tokens split over two gloo processes) equals one process: the
forward output and every parameter gradient, a pipeline's video for one seed, and a training run
through the one loop. One torchrun launch serves all of it (tests/context_parallel_checks.py)."""

import json
import subprocess
import sys

import pytest

from genvid.config import load_config
from genvid.training.loop import train
from test_fsdp_training import assert_same_weights, final_weights, model_config
from test_training_loop import TESTS, losses, subprocess_env


@pytest.fixture(scope="module")
def checks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("context_parallel")
    settings = dict(fsdp=False, batch_size=2, max_steps=3)
    split = model_config(tmp, "dit", "split", context_parallel=2, **settings)
    (tmp / "jobs.json").write_text(json.dumps([{"config": str(split)}]))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29552",
               str(TESTS / "context_parallel_checks.py"), str(tmp / "out.json"), str(tmp / "jobs.json")]
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    train(load_config(model_config(tmp, "dit", "whole", **settings)))
    return tmp, json.loads((tmp / "out.json").read_text())


@pytest.mark.parametrize("timestep", ["scalar_timestep", "per_frame_timestep", "per_frame_timestep_split_inside_a_frame"])
def test_forward_and_every_gradient_equal_one_process(checks, timestep):
    _, results = checks
    measured = results["model"][timestep]
    assert measured["gradients"] > 20
    assert measured["output"] <= 1e-5
    assert measured["worst_gradient"] <= 1e-5


def test_pipeline_video_equals_one_process_for_the_same_seed(checks):
    _, results = checks
    assert results["pipeline"]["video_shape"] == [1, 9, 3, 16, 16]
    assert results["pipeline"]["video"] <= 1e-5


def test_training_with_context_parallel_equals_one_process(checks):
    tmp, _ = checks
    assert len(losses(tmp / "split")) == 3
    assert losses(tmp / "split") == pytest.approx(losses(tmp / "whole"), rel=1e-5)
    assert_same_weights(final_weights(tmp / "split"), final_weights(tmp / "whole"))
