"""Generators and the tokenizer train on bucketed batches; a cache gives the raw run's losses
without loading the frozen networks; a resumed bucketed run equals the uninterrupted one."""

import json

import pytest
import torch
from omegaconf import OmegaConf

from genvid.errors import GenvidError
from genvid.training.encode_dataset import encode_dataset
from genvid.training.loop import train
from test_dataset_cache import BUCKETS, save_tokenizer, write_folder

DIT_MODEL = dict(in_channels=4, hidden_size=32, num_layers=1, num_heads=2, text_hidden_size=384)
LM_MODEL = dict(hidden_size=32, num_layers=1, num_heads=2, max_sequence_length=256)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("bucketed")
    manifest = write_folder(root / "clips", broken=False)  # a skipped file would change the raw run's buckets
    gaussian = save_tokenizer(root / "gaussian")
    fsq = save_tokenizer(root / "fsq", bottleneck="fsq", fsq_levels=[5, 5, 5, 5])
    for name, tokenizer in (("gaussian", gaussian), ("fsq", fsq)):
        encode_dataset(str(manifest), str(root / f"cache_{name}"), tokenizer, data={"buckets": BUCKETS}, shard_size=4,
                       batch_size=4, progress=False)
    return {"root": root, "manifest": str(manifest), "gaussian": gaussian, "fsq": fsq}


def run(prepared, tmp_path, task, data, steps, name="run", **training):
    model, tokenizer = (DIT_MODEL, prepared["gaussian"]) if task == "dit" else (LM_MODEL, prepared["fsq"])
    options = {"tokenizer": tokenizer, "text_dropout": 0.3}
    if task == "lm":
        options["task_weights"] = {"t2v": 1.0}
    config = OmegaConf.create({
        "task": task, "model": model, "task_options": options, "data": data,
        "training": {**dict(output_dir=str(tmp_path / name), max_steps=steps, batch_size=2, learning_rate=3e-3, warmup_steps=0,
                            lr_schedule="constant", checkpoint_every=0, preview_every=0, report_to="none", log_every=1,
                            export_on_finish=False, seed=3), **training},
    })
    summary = train(config)
    metrics = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    return summary, metrics


def cache_data(prepared, kind):
    return {"source": "cache", "cache": str(prepared["root"] / f"cache_{kind}")}


def test_dit_from_cache_gives_the_raw_losses_without_loading_the_frozen_networks(prepared, tmp_path, monkeypatch):
    raw = {"source": "folder", "manifest": prepared["manifest"], "buckets": BUCKETS}
    _, from_raw = run(prepared, tmp_path, "dit", raw, 6, "raw")
    import genvid.training.tasks.generator as generator_module

    def refuse(*args, **kwargs):
        raise AssertionError("a frozen network was loaded while training from the cache")

    monkeypatch.setattr(generator_module, "load_video_tokenizer", refuse)
    monkeypatch.setattr(generator_module, "load_text_encoder", refuse)
    _, from_cache = run(prepared, tmp_path, "dit", cache_data(prepared, "gaussian"), 6, "cache")
    assert [record["step"] for record in from_cache] == list(range(1, 7))
    torch.testing.assert_close([r["loss"] for r in from_cache], [r["loss"] for r in from_raw], rtol=1e-4, atol=1e-5)
    assert any(record["text_dropped"] > 0 for record in from_cache)  # the empty caption's states were used


def test_dit_and_lm_overfit_a_set_spread_over_three_buckets(prepared, tmp_path):
    _, dit = run(prepared, tmp_path, "dit", cache_data(prepared, "gaussian"), 40, "dit")
    _, lm = run(prepared, tmp_path, "lm", cache_data(prepared, "fsq"), 40, "lm")
    for metrics in (dit, lm):
        losses = [record["loss"] for record in metrics]
        assert sum(losses[-8:]) / 8 < 0.7 * sum(losses[:8]) / 8
    assert lm[-1]["token_accuracy"] > lm[0]["token_accuracy"]


def test_resumed_bucketed_run_equals_the_uninterrupted_one(prepared, tmp_path):
    data = cache_data(prepared, "gaussian")
    _, whole = run(prepared, tmp_path, "dit", data, 6, "whole")
    run(prepared, tmp_path, "dit", data, 3, "parts", checkpoint_every=3)
    config = OmegaConf.load(tmp_path / "parts" / "config.yaml")
    config.training.max_steps = 6
    train(config, resume="auto")
    resumed = [json.loads(line) for line in (tmp_path / "parts" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in resumed] == list(range(1, 7))
    torch.testing.assert_close([r["loss"] for r in resumed], [r["loss"] for r in whole], rtol=1e-5, atol=1e-6)


def test_tokenizer_trains_on_bucketed_batches_and_a_wrong_tokenizer_is_refused(prepared, tmp_path):
    config = OmegaConf.create({
        "task": "tokenizer", "model": dict(latent_channels=4, base_channels=8, channel_multipliers=[1, 2, 2], num_res_blocks=1,
                                           num_mid_blocks=1),
        "task_options": {"use_discriminator": False, "latent_statistics_batches": 2},
        "data": {"source": "folder", "manifest": prepared["manifest"], "buckets": BUCKETS},
        "training": dict(output_dir=str(tmp_path / "tokenizer"), max_steps=4, batch_size=2, warmup_steps=0, checkpoint_every=0,
                         report_to="none", log_every=1),
    })
    summary = train(config)
    assert summary["final_loss"] > 0 and (tmp_path / "tokenizer" / "final" / "config.json").is_file()
    with pytest.raises(GenvidError, match="made with another tokenizer"):
        run(prepared, tmp_path, "dit", cache_data(prepared, "fsq"), 1, "wrong")
