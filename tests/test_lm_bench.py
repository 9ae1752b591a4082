"""The LM benchmark runs end to end at toy shapes and prints one JSON object per line."""

import json

import torch

from genvid.bench import lm as bench


def test_bench_prints_json_lines(capsys, monkeypatch):
    toy = dict(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, vocab_size=128,
               new_tokens=3, prefix_tokens=4, train_batch=1, train_length=8)
    monkeypatch.setitem(bench.PRESETS, "toy", toy)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # toy matmuls: thread hand-offs would cost more than the work
    try:
        code = bench.main(["--device", "cpu", "--preset", "toy", "--new-tokens", "3", "--prefix-tokens", "4",
                            "--batch-sizes", "2", "--train-batch", "1", "--train-length", "8", "--reps", "1",
                            "--sliding-window", "4"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    cases = {record["case"] for record in records}
    assert "genvid_decode_static_cache_3_bs2" in cases and "hf_llama_generate_dynamic_cache_3_bs2" in cases
    assert "genvid_local_global_train_bs1x8" in cases and "hf_llama_train_bs1x8" in cases
    assert not [record for record in records if "error" in record]
