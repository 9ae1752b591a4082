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
from safetensors.torch import load_file

from genvid.config import ConfigError, load_config
from genvid.training.checkpoint import complete_checkpoints, resolve_resume
from genvid.training.loop import train

TESTS = Path(__file__).parent
ROOT = TESTS.parent


def write_config(tmp_path: Path, name: str = "run", **training) -> Path:
    settings = dict(
        output_dir=str(tmp_path / name),
        max_steps=12,
        batch_size=2,
        learning_rate=0.01,
        warmup_steps=2,
        log_every=1,
        checkpoint_every=4,
        keep_last_checkpoints=2,
        report_to="none",
        seed=3,
    )
    settings.update(training)
    lines = ["task: fixture_tasks:DenoiseTask", "model: {hidden: 8}", "data:", "  source: synthetic",
             "  num_samples: 16", "  num_frames: 5", "  height: 16", "  width: 16", "training:"]
    lines += [f"  {key}: {json.dumps(value)}" for key, value in settings.items()]
    path = tmp_path / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def losses(run_dir: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def subprocess_env() -> dict:
    env = dict(os.environ, PYTHONPATH=f"{TESTS}{os.pathsep}{ROOT}", OMP_NUM_THREADS="1")
    return env


def test_loss_falls_and_export_written(tmp_path):
    config = load_config(write_config(tmp_path, max_steps=40, checkpoint_every=0))
    summary = train(config)
    curve = losses(tmp_path / "run")
    assert len(curve) == 40
    assert sum(curve[-5:]) / 5 < 0.5 * sum(curve[:5]) / 5
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()
    assert summary["steps"] == 40


def test_resume_continues_from_saved_step(tmp_path):
    straight = train(load_config(write_config(tmp_path, "straight")))
    # The same run stopped after step 8's checkpoint: keep checkpoints up to 8, then resume.
    interrupted = load_config(write_config(tmp_path, "interrupted"))
    train(interrupted)
    run = tmp_path / "interrupted"
    for checkpoint in complete_checkpoints(run):
        if checkpoint.name.endswith("12"):
            import shutil

            shutil.rmtree(checkpoint)
    assert resolve_resume("auto", run).name == "step_00000008"
    resumed = train(interrupted, resume="auto")
    assert losses(run) == pytest.approx(losses(tmp_path / "straight"), rel=1e-6, abs=1e-7)
    assert resumed["final_loss"] == pytest.approx(straight["final_loss"], rel=1e-6)


def test_half_written_checkpoint_is_ignored(tmp_path):
    run = tmp_path / "run"
    train(load_config(write_config(tmp_path, max_steps=4, checkpoint_every=4)))
    (run / "checkpoints" / ".step_00000008.tmp").mkdir()
    (run / "checkpoints" / "step_00000009").mkdir()  # no trainer.json: never completed
    (run / "checkpoints" / "step_00000009" / "model.safetensors").write_bytes(b"partial")
    assert resolve_resume("auto", run).name == "step_00000004"


def test_unknown_config_key_is_named(tmp_path):
    path = write_config(tmp_path)
    with pytest.raises(ConfigError, match="training.max_stepz"):
        train(load_config(path, ["training.max_stepz=3"]))
    with pytest.raises(ConfigError, match="model.depth"):
        train(load_config(path, ["model.depth=3"]))
    with pytest.raises(ConfigError, match="modle"):
        load_config(path, ["modle.depth=3"])


def test_nan_steps_are_skipped_then_stop_the_run(tmp_path):
    path = write_config(tmp_path, max_steps=6, checkpoint_every=0)
    summary = train(load_config(path, ["task_options.nan_steps=[2]", "training.max_bad_steps=3"]))
    assert summary["final_loss"] == summary["final_loss"]  # finite at the end
    with pytest.raises(Exception, match="non-finite"):
        train(load_config(path, ["task_options.nan_steps=[1,2]", "training.max_bad_steps=2", "training.output_dir=" + str(tmp_path / "b")]))


def test_ema_weights_differ_and_are_exported(tmp_path):
    run = tmp_path / "run"
    train(load_config(write_config(tmp_path, max_steps=8, ema_decay=0.9)))
    checkpoint = complete_checkpoints(run)[-1]
    raw = load_file(str(checkpoint / "model.safetensors"))
    ema = load_file(str(checkpoint / "ema.safetensors"))
    exported = load_file(str(run / "final" / "model.safetensors"))
    name = "net.0.weight"
    assert not torch.allclose(raw[name], ema[f"shadow.{name}"])
    assert torch.equal(exported[name], ema[f"shadow.{name}"])
    # `genvid export` of the checkpoint gives the same EMA weights
    out = tmp_path / "exported"
    subprocess.run(
        [sys.executable, "-m", "genvid.cli", "export", str(checkpoint), "--output", str(out)],
        check=True, env=subprocess_env(), capture_output=True,
    )
    assert torch.equal(load_file(str(out / "model.safetensors"))[name], ema[f"shadow.{name}"])


def test_sigkill_then_resume_auto_reproduces_the_run(tmp_path):
    straight = write_config(tmp_path, "straight", max_steps=16)
    train(load_config(straight))
    killed = write_config(tmp_path, "killed", max_steps=16)
    command = [sys.executable, "-m", "genvid.cli", "train", str(killed), "task_options.sleep_per_step=0.25"]
    process = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = tmp_path / "killed"
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if any(c.name >= "step_00000008" for c in complete_checkpoints(run)):
            break
        time.sleep(0.1)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert len(losses(run)) < 16
    resumed = subprocess.run(
        [sys.executable, "-m", "genvid.cli", "train", str(killed), "--resume", "auto"],
        env=subprocess_env(), capture_output=True, text=True,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr
    assert losses(run) == pytest.approx(losses(tmp_path / "straight"), rel=1e-6, abs=1e-7)
    final_a = load_file(str(tmp_path / "straight" / "final" / "model.safetensors"))
    final_b = load_file(str(run / "final" / "model.safetensors"))
    for name in final_a:
        torch.testing.assert_close(final_a[name], final_b[name], rtol=1e-6, atol=1e-7)


def test_two_processes_end_with_identical_weights(tmp_path):
    config = write_config(tmp_path, max_steps=6, checkpoint_every=0)
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(ROOT / "configs" / "accelerate" / "cpu_two_processes.yaml"),
        "--main_process_port", "29517",
        "-m", "genvid.cli", "train", str(config),
    ]
    result = subprocess.run(command, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "train_summary.json").read_text())
    assert len(summary["rank_checksums"]) == 2
    assert summary["rank_checksums"][0] == summary["rank_checksums"][1]


def metric(run_dir: Path, name: str) -> list[float]:
    return [json.loads(line)[name] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_fp16_loss_scale_is_checkpointed_and_resumed(tmp_path):
    # The NaN step makes the loss scaler halve its scale (65536 -> 32768) before the step-4
    # checkpoint: a resume that forgot the scaler would log 65536 again after it.
    overrides = ["task_options.nan_steps=[1]"]
    straight = train(load_config(write_config(tmp_path, "straight", max_steps=8, mixed_precision="fp16"), overrides))
    scales = metric(tmp_path / "straight", "loss_scale")
    assert scales[0] == 65536.0 and scales[-1] == 32768.0
    path = write_config(tmp_path, "resumed", max_steps=8, mixed_precision="fp16")
    train(load_config(path, overrides))
    run = tmp_path / "resumed"
    shutil.rmtree(run / "checkpoints" / "step_00000008")
    saved = json.loads((run / "checkpoints" / "step_00000004" / "trainer.json").read_text())
    assert saved["grad_scaler"]["scale"] == 32768.0
    resumed = train(load_config(path, overrides), resume="auto")
    assert metric(run, "loss_scale") == scales
    assert losses(run)[4:] == pytest.approx(losses(tmp_path / "straight")[4:], rel=1e-6)
    assert resumed["final_loss"] == pytest.approx(straight["final_loss"], rel=1e-6)


def test_bf16_autocast_trains_on_cpu(tmp_path):
    train(load_config(write_config(tmp_path, "fp32", max_steps=10, checkpoint_every=0)))
    train(load_config(write_config(tmp_path, "bf16", max_steps=10, checkpoint_every=0, mixed_precision="bf16")))
    assert metric(tmp_path / "bf16", "bfloat16_autocast") == [1.0] * 10
    assert metric(tmp_path / "fp32", "bfloat16_autocast") == [0.0] * 10
    curve, reference = losses(tmp_path / "bf16"), losses(tmp_path / "fp32")
    assert curve[-1] < 0.5 * curve[0]
    # bf16 rounding shows in the losses, but only a little
    assert curve != reference
    assert curve == pytest.approx(reference, rel=0.05)
