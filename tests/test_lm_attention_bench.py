"""The LM attention bench: its dense-mask arm is the same model (same first loss) and is undone after."""

import torch

import genvid.models.lm as lm_module
from genvid.bench.lm_attention import run_case


def test_dense_and_prefix_lm_cases_train_the_same_model():
    threads = torch.get_num_threads()
    try:
        dense = run_case(48, "dense", steps=1, threads=1, hidden_size=32, num_layers=1)
        assert lm_module.prefix_lm.__name__ == "prefix_lm"  # the dense arm's replacement is undone
        fused = run_case(48, "prefix_lm", steps=1, threads=1, hidden_size=32, num_layers=1)
    finally:
        torch.set_num_threads(threads)
    assert dense["mode"] == "dense" and fused["mode"] == "prefix_lm"
    assert abs(dense["first_loss"] - fused["first_loss"]) < 1e-4 * abs(fused["first_loss"])
    assert dense["step_seconds"] > 0 and fused["peak_rss_mib"] > 0
