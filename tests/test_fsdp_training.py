"""FSDP2 through the one loop on two CPU processes (gloo, fp32), against one process.

One process with batch B and accumulation 2 sees, every step, the same 2B samples with the same
noise as two processes with batch B each (genvid.training.parallel.layout.sample_slot), so its
losses and weights are what FSDP x2 must reproduce. The launches are few and grouped
(tests/multiprocess_runs.py): each torchrun start costs seconds on a small machine.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from genvid.config import load_config
from genvid.training.checkpoint import MARKER, complete_checkpoints, load_model_weights
from genvid.training.export import export_checkpoint
from genvid.training.loop import build_task, train
from test_training_loop import ROOT, TESTS, losses, subprocess_env, write_config

TOKENIZER = "{latent_channels: 4, base_channels: 8, channel_multipliers: [1, 2, 2], num_res_blocks: 1, num_mid_blocks: 1}"
DATA = ["data:", "  source: synthetic", "  num_samples: 16", "  num_frames: 5", "  height: 16", "  width: 16"]
MODELS = {
    "dit": [
        "task: dit",
        "model: {in_channels: 4, hidden_size: 32, num_layers: 2, num_heads: 2, text_hidden_size: 384}",
        f"task_options: {{tokenizer_config: {TOKENIZER}, text_max_length: 8, first_frame_probability: 0.5}}",
    ],
    "lm": [
        "task: lm",
        "model: {codebook_size: 16, text_hidden_size: 384, hidden_size: 32, num_layers: 2, num_heads: 2, max_sequence_length: 64}",
        "task_options: {tokenizer_config: {bottleneck: fsq, fsq_levels: [4, 4], base_channels: 8,"
        " channel_multipliers: [1, 2, 2, 4], num_res_blocks: 1, num_mid_blocks: 1}, text_max_length: 8}",
    ],
    "tokenizer": [
        "task: tokenizer",
        "model: {base_channels: 8, channel_multipliers: [1, 2, 2, 4], num_res_blocks: 1, num_mid_blocks: 1}",
        "task_options: {discriminator_channels: 8, discriminator_layers: 2, discriminator_start_step: 2,"
        " latent_statistics_batches: 0}",
    ],
}


def model_config(tmp_path: Path, kind: str, name: str, **training) -> Path:
    settings = dict(output_dir=str(tmp_path / name), max_steps=3, batch_size=1, learning_rate=1e-3, warmup_steps=1,
                    log_every=1, checkpoint_every=3, report_to="none", seed=5, fsdp=True, export_on_finish=False)
    settings.update(training)
    lines = MODELS[kind] + DATA + ["training:"] + [f"  {key}: {json.dumps(value)}" for key, value in settings.items()]
    path = tmp_path / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def launch(tmp_path: Path, name: str, jobs: list[dict], port: int, wait: bool = True):
    jobs_file = tmp_path / f"{name}.json"
    jobs_file.write_text(json.dumps(jobs))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
               str(TESTS / "multiprocess_runs.py"), str(jobs_file)]
    if not wait:
        return subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """The weights of a run's newest checkpoint, loaded into a bare model (any checkpoint format)."""
    checkpoint = complete_checkpoints(run_dir)[-1]
    config = OmegaConf.create(json.loads((checkpoint / MARKER).read_text())["config"])
    task, _, _ = build_task(config)
    model = task.build_model()
    load_model_weights(checkpoint, model, use_ema=False)
    return model.state_dict()


def assert_same_weights(first: dict, second: dict, rtol: float = 1e-5, atol: float = 1e-7):
    assert first.keys() == second.keys()
    for name in first:
        torch.testing.assert_close(first[name], second[name], rtol=rtol, atol=atol, msg=name)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every run the tests read: FSDP x2 launches, their one-process references, a SIGKILL."""
    tmp = tmp_path_factory.mktemp("fsdp")
    denoise = dict(max_steps=8, checkpoint_every=2, keep_last_checkpoints=4, ema_decay=0.9, fsdp=True)
    configs = {
        "dit": model_config(tmp, "dit", "dit"),
        "lm": model_config(tmp, "lm", "lm"),
        "tokenizer": model_config(tmp, "tokenizer", "tokenizer", max_steps=4, checkpoint_every=4),
        "denoise": write_config(tmp, "denoise", **denoise),
    }
    launch(tmp, "first", port=29541, jobs=[{"config": str(path)} for path in configs.values()])
    for kind in ("dit", "lm"):
        train(load_config(model_config(tmp, kind, f"{kind}_single", gradient_accumulation_steps=2)))
    single = write_config(tmp, "denoise_single", gradient_accumulation_steps=2, **denoise)
    train(load_config(single))

    # A run killed mid-way, then resumed with --resume auto; and the one-process run's step-4
    # checkpoint continued by two processes.
    killed = write_config(tmp, "killed", **denoise)
    process = launch(tmp, "killed", port=29542, jobs=[{"config": str(killed), "overrides": ["task_options.sleep_per_step=0.4"]}], wait=False)
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if any(path.name >= "step_00000004" for path in complete_checkpoints(tmp / "killed")):
            break
        time.sleep(0.1)
    assert process.poll() is None, "the run ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)  # the launcher's whole session: it and both ranks
    process.wait()
    widened = tmp / "widened"
    (widened / "checkpoints").mkdir(parents=True)
    shutil.copytree(tmp / "denoise_single" / "checkpoints" / "step_00000004", widened / "checkpoints" / "step_00000004")
    launch(tmp, "resumed", port=29543, jobs=[
        {"config": str(killed), "resume": "auto"},
        {"config": str(write_config(tmp, "widened", **denoise)), "resume": "auto"},
    ])
    return tmp


@pytest.mark.parametrize("kind", ["dit", "lm"])
def test_fsdp_two_processes_equal_one_process_with_twice_the_batch(runs, kind):
    sharded, single = losses(runs / kind), losses(runs / f"{kind}_single")
    assert len(sharded) == 3
    assert sharded == pytest.approx(single, rel=1e-5)
    assert_same_weights(final_weights(runs / kind), final_weights(runs / f"{kind}_single"))
    saved = complete_checkpoints(runs / kind)[-1]
    assert len(list((saved / "shards").glob("*.safetensors"))) == 2  # one shard file per rank


def test_tokenizer_trains_under_fsdp_with_its_discriminator(runs):
    records = [json.loads(line) for line in (runs / "tokenizer" / "metrics.jsonl").read_text().splitlines()]
    assert ["generator_adversarial" in record for record in records] == [False, False, True, True]
    assert all(torch.isfinite(torch.tensor(record["loss"])) for record in records)
    from genvid.training.parallel.fsdp import block_classes
    from tokenizer import VideoTokenizer

    assert block_classes(VideoTokenizer(base_channels=8)) == {"ResBlock2d", "ResBlock3d"}  # one unit per block
    summary = json.loads((runs / "tokenizer" / "train_summary.json").read_text())
    assert len(summary["rank_checksums"]) == 2 and summary["rank_checksums"][0] == summary["rank_checksums"][1]


def test_ema_and_export_under_fsdp_equal_one_process(runs):
    single_losses = losses(runs / "denoise_single")
    assert losses(runs / "denoise") == pytest.approx(single_losses, rel=1e-5)
    from safetensors.torch import load_file

    exported = load_file(str(runs / "denoise" / "final" / "model.safetensors"))  # the EMA weights
    reference = load_file(str(runs / "denoise_single" / "final" / "model.safetensors"))
    assert_same_weights(exported, reference)
    raw = final_weights(runs / "denoise")
    assert not torch.allclose(raw["net.0.weight"], exported["net.0.weight"])
    # `genvid export` of the sharded step-8 checkpoint writes the same EMA weights
    out = export_checkpoint(runs / "denoise", runs / "exported")
    assert_same_weights(load_file(str(out / "model.safetensors")), exported, rtol=0, atol=0)


def test_sharded_checkpoint_resumes_at_another_world_size(runs):
    # two processes -> one: continue the FSDP x2 run's step-4 checkpoint in this process
    narrowed = runs / "narrowed"
    (narrowed / "checkpoints").mkdir(parents=True)
    shutil.copytree(runs / "denoise" / "checkpoints" / "step_00000004", narrowed / "checkpoints" / "step_00000004")
    config = write_config(runs, "narrowed", max_steps=8, checkpoint_every=2, keep_last_checkpoints=4,
                          ema_decay=0.9, fsdp=True, gradient_accumulation_steps=2)
    train(load_config(config), resume="auto")
    assert losses(narrowed) == pytest.approx(losses(runs / "denoise")[4:], rel=1e-5)
    # one process -> two (the launch in the fixture)
    assert losses(runs / "widened") == pytest.approx(losses(runs / "denoise_single")[4:], rel=1e-5)


def test_sigkill_under_fsdp_then_resume_auto_reproduces_the_run(runs):
    assert losses(runs / "killed") == pytest.approx(losses(runs / "denoise"), rel=1e-6, abs=1e-7)
    from safetensors.torch import load_file

    assert_same_weights(
        load_file(str(runs / "killed" / "final" / "model.safetensors")),
        load_file(str(runs / "denoise" / "final" / "model.safetensors")),
        rtol=1e-6,
    )
