"""LoRA: a run trains the adapter alone (base bit-identical, loss falls), checkpoints and exports
hold the adapter alone, a fresh pipeline loads it and draws the same video, fuse == unfused,
adapters combine with set_adapters, the CLI's --lora, and two DDP processes agree."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from genvid.config import ConfigError, load_config
from genvid.pipelines.diffusion import GenVidDiffusionPipeline
from genvid.pipelines.lora import parse_adapter, read_lora_file
from genvid.training import lora as lora_module
from genvid.training.export import export_checkpoint
from genvid.training.loop import build_task, train

TESTS = Path(__file__).parent
ROOT = TESTS.parent
TOKENIZER = {"latent_channels": 4, "base_channels": 8, "channel_multipliers": [1, 2, 2], "num_res_blocks": 1,
             "num_mid_blocks": 1, "cell_skip": False}  # the setting the figures below were measured with
PROMPT = "a red circle moving left"


def write_config(tmp_path: Path, name: str, task_options: dict, **training) -> Path:
    settings = dict(output_dir=str(tmp_path / name), max_steps=30, batch_size=4, learning_rate=3e-3, warmup_steps=0,
                    lr_schedule="constant", log_every=1, checkpoint_every=0, report_to="none", seed=1)
    settings.update(training)
    config = {
        "task": "dit",
        "model": {"in_channels": 4, "hidden_size": 32, "num_layers": 2, "num_heads": 2, "text_hidden_size": 384,
                  "absolute_positions": False, "pooled_text": False},
        "data": {"source": "synthetic", "num_samples": 4, "num_frames": 5, "height": 16, "width": 16},
        "task_options": {"text_dropout": 0.0, "latent_cache_size": 64, **task_options},
        "training": settings,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A base DiT trained briefly (its AdaLN gates must be open for attention adapters to matter),
    then a LoRA run on it; the LoRA run's in-training model is kept."""
    root = tmp_path_factory.mktemp("lora")
    train(load_config(write_config(root, "base", {"tokenizer_config": TOKENIZER}, max_steps=25)))
    base = root / "base" / "final"
    kept = {}
    original = lora_module.attach_adapter

    def keep(model, options):
        kept["model"] = original(model, options)
        return kept["model"]

    lora_module.attach_adapter = keep
    try:
        options = {"tokenizer": str(base / "video_tokenizer"), "initial_weights": str(base)}
        lora = {"rank": 4, "alpha": 8, "dropout": 0.0}
        config = write_config(root, "lora", options, max_steps=60, learning_rate=2e-2, checkpoint_every=30, lora=lora)
        summary = train(load_config(config))
    finally:
        lora_module.attach_adapter = original
    return {"root": root, "base": base, "lora": root / "lora", "model": kept["model"], "summary": summary,
            "config": config}


def fresh_pipeline(base: Path) -> GenVidDiffusionPipeline:
    pipeline = GenVidDiffusionPipeline.from_pretrained(base)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def video(pipeline) -> torch.Tensor:
    return pipeline(PROMPT, num_frames=5, height=16, width=16, num_inference_steps=3, guidance_scale=2.0,
                    generator=torch.Generator().manual_seed(0), output_type="pt").frames


def test_lora_run_changes_only_the_adapter_and_its_loss_falls(runs):
    base = load_file(str(runs["base"] / "transformer" / "diffusion_pytorch_model.safetensors"))
    model = runs["model"]
    adapters = 0
    for name, parameter in model.named_parameters():
        if "lora_" in name:
            adapters += 1
            assert parameter.requires_grad
            continue
        assert not parameter.requires_grad, name
        assert torch.equal(parameter.detach(), base[name.replace(".base_layer", "")]), name
    assert adapters == 2 * 5 * 2  # A and B for five attention projections in each of two blocks
    assert any(p.abs().sum() > 0 for n, p in model.named_parameters() if "lora_B" in n)
    # the loss on the training clips, same noise for both: adapter on against adapter off
    task, data_config, _ = build_task(load_config(runs["config"]))
    task.setup(torch.device("cpu"))
    from genvid.data import build_dataset, collate_videos

    dataset = build_dataset(data_config)
    batch = collate_videos([dataset[index] for index in range(len(dataset))])
    model.eval()

    def loss(seed):
        with torch.no_grad():
            return float(task.training_step(model, batch, 0, torch.Generator().manual_seed(seed))[0])

    adapted = sum(loss(seed) for seed in range(6))
    model.disable_adapters()
    try:
        base_loss = sum(loss(seed) for seed in range(6))
    finally:
        model.enable_adapters()
    print(f"loss on the training clips: base {base_loss / 6:.4f}, with the adapter {adapted / 6:.4f}")
    assert adapted < 0.9 * base_loss  # measured: 0.376 against 0.453


def test_checkpoint_and_export_hold_the_adapter_alone(runs):
    exported = runs["lora"] / "final" / "pytorch_lora_weights.safetensors"
    state, metadata = read_lora_file(exported)
    assert state and all(key.startswith("transformer.") and ".lora_" in key for key in state)
    assert metadata["transformer.r"] == 4 and metadata["transformer.lora_alpha"] == 8
    full = runs["base"] / "transformer" / "diffusion_pytorch_model.safetensors"
    assert exported.stat().st_size < 0.2 * full.stat().st_size
    checkpoint = runs["lora"] / "checkpoints" / "step_00000060"
    assert all(".lora_" in key for key in load_file(str(checkpoint / "model.safetensors")))
    # genvid export of the checkpoint writes the same adapter (no EMA in this run)
    output = export_checkpoint(checkpoint, runs["root"] / "exported")
    again = load_file(str(output / "pytorch_lora_weights.safetensors"))
    assert state.keys() == again.keys() and all(torch.equal(state[key], again[key]) for key in state)


def test_resumed_lora_run_ends_with_the_same_adapter(runs):
    resumed = runs["root"] / "resumed"
    overrides = [f"training.output_dir={resumed}"]
    checkpoint = runs["lora"] / "checkpoints" / "step_00000030"
    train(load_config(runs["config"], overrides), resume=str(checkpoint))
    first = load_file(str(runs["lora"] / "final" / "pytorch_lora_weights.safetensors"))
    second = load_file(str(resumed / "final" / "pytorch_lora_weights.safetensors"))
    for key in first:
        torch.testing.assert_close(second[key], first[key], rtol=1e-5, atol=1e-6)


def test_exported_adapter_in_a_fresh_pipeline_gives_the_in_training_video(runs):
    task, _, _ = build_task(load_config(runs["config"]))
    in_training = task.pipeline(runs["model"])
    in_training.set_progress_bar_config(disable=True)
    expected = video(in_training)
    pipeline = fresh_pipeline(runs["base"])
    without = video(pipeline)
    pipeline.load_lora_weights(runs["lora"] / "final", adapter_name="trained")
    with_adapter = video(pipeline)
    torch.testing.assert_close(with_adapter, expected, atol=1e-5, rtol=0)
    assert (with_adapter - without).abs().max() > 1e-3
    pipeline.fuse_lora()
    torch.testing.assert_close(video(pipeline), with_adapter, atol=1e-4, rtol=0)
    pipeline.unfuse_lora()
    torch.testing.assert_close(video(pipeline), with_adapter, atol=1e-5, rtol=0)
    pipeline.unload_lora_weights()
    # fusing then unfusing adds and subtracts the update: float rounding is all that remains
    torch.testing.assert_close(video(pipeline), without, atol=1e-5, rtol=0)


def test_set_adapters_combines_two_adapters_with_their_weights(runs):
    pipeline = fresh_pipeline(runs["base"])
    base_weight = pipeline.transformer.blocks[0].self_attention.to_qkv.weight.detach().clone()
    state, metadata = read_lora_file(runs["lora"] / "final")
    doubled = {key: value * (2.0 if "lora_B" in key else 1.0) for key, value in state.items()}
    pipeline.load_lora_weights(runs["lora"] / "final", adapter_name="one")
    pipeline.load_lora_weights(doubled, adapter_name="two", metadata=metadata)
    assert pipeline.get_list_adapters() == {"transformer": ["one", "two"]}
    pipeline.set_adapters(["one", "two"], [0.5, 0.25])
    # one adapter at 1.0 is the same update as 0.5 of it plus 0.25 of its double
    combined = video(pipeline)
    pipeline.set_adapters("one", 1.0)
    torch.testing.assert_close(combined, video(pipeline), atol=1e-5, rtol=0)
    pipeline.set_adapters(["one", "two"], [1.0, 0.5])
    pipeline.fuse_lora()
    layer = pipeline.transformer.blocks[0].self_attention.to_qkv  # peft's wrapper since the load
    prefix = "transformer.blocks.0.self_attention.to_qkv"
    delta = state[f"{prefix}.lora_B.weight"] @ state[f"{prefix}.lora_A.weight"] * (8 / 4)
    torch.testing.assert_close(layer.base_layer.weight.detach(), base_weight + 2.0 * delta, atol=1e-6, rtol=1e-5)
    with pytest.raises(Exception, match="unknown adapter"):
        pipeline.set_adapters(["three"])


def test_generate_cli_takes_repeated_lora_with_scales(runs, tmp_path):
    from genvid.cli import main

    assert parse_adapter("runs/x/final:0.5") == ("runs/x/final", 0.5)
    assert parse_adapter("C:/adapters/pink") == ("C:/adapters/pink", 1.0)
    common = ["generate", PROMPT, "--pipeline", str(runs["base"]), "--num-frames", "5", "--height", "16",
              "--width", "16", "--steps", "2", "--device", "cpu"]
    adapter = str(runs["lora"] / "final")
    assert main(common + ["--output", str(tmp_path / "plain.png")]) == 0
    assert main(common + ["--output", str(tmp_path / "lora.png"), "--lora", adapter, "--lora", f"{adapter}:0.5"]) == 0
    assert (tmp_path / "plain.png").read_bytes() != (tmp_path / "lora.png").read_bytes()
    assert main(common + ["--output", str(tmp_path / "bad.png"), "--lora", str(tmp_path / "missing")]) != 0


def test_bad_lora_options_are_named(runs):
    config = load_config(runs["config"], ["training.lora.target_modules=[nothing_like_this]"])
    task, _, _ = build_task(config)
    with pytest.raises(ConfigError, match="match no layer"):
        task.build_model()
    with pytest.raises(ConfigError, match="training.lora.ranks"):
        build_task(load_config(runs["config"], ["training.lora.ranks=4"]))


def test_lora_under_two_ddp_processes(runs):
    config = write_config(runs["root"], "ddp", {"tokenizer": str(runs["base"] / "video_tokenizer"),
                                                "initial_weights": str(runs["base"])},
                          max_steps=4, batch_size=2, learning_rate=1e-2, lora={"rank": 2})
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               str(ROOT / "configs" / "accelerate" / "cpu_two_processes.yaml"), "--main_process_port", "29531",
               "-m", "genvid.cli", "train", str(config)]
    env = {**__import__("os").environ, "PYTHONPATH": f"{TESTS}:{ROOT}", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((runs["root"] / "ddp" / "train_summary.json").read_text())
    assert len(summary["rank_checksums"]) == 2 and summary["rank_checksums"][0] == summary["rank_checksums"][1]
    state, _ = read_lora_file(runs["root"] / "ddp" / "final")
    assert any(value.abs().sum() > 0 for key, value in state.items() if "lora_B" in key)


def test_the_language_model_takes_an_adapter_too():
    from genvid.models.lm import VideoLanguageModel
    from genvid.pipelines.ar import GenVidARPipeline
    from genvid.training.lora import LoraOptions, adapter_state, attach_adapter

    torch.manual_seed(0)
    model = VideoLanguageModel(codebook_size=16, num_special_tokens=32, hidden_size=32, num_layers=2, num_heads=2,
                               text_hidden_size=16, max_sequence_length=32)
    attach_adapter(model, LoraOptions(rank=2))
    assert sorted({key.split(".")[-3] for key in adapter_state(model)}) == ["to_k", "to_out", "to_q", "to_v"]
    assert all(p.requires_grad == ("lora_" in n) for n, p in model.named_parameters())
    assert hasattr(GenVidARPipeline, "load_lora_weights") and hasattr(GenVidARPipeline, "fuse_lora")
