"""The LM benchmark runs end to end at toy shapes and prints lines in the one bench layout."""

import json

import torch

from genvid.bench import lm as bench
from genvid.bench.report import FIELDS


def test_bench_prints_layout_lines(capsys, monkeypatch):
    toy = dict(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, vocab_size=128,
               new_tokens=3, prefix_tokens=4, train_batch=1, train_length=8)
    monkeypatch.setitem(bench.PRESETS, "toy", toy)
    threads = torch.get_num_threads()
    try:  # toy matmuls: thread hand-offs would cost more than the work
        code = bench.main(["--device", "cpu", "--preset", "toy", "--batch-sizes", "2", "--reps", "1",
                           "--sliding-window", "4", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert all(set(FIELDS) <= set(record) and record["threads"] == 1 for record in records)
    figures = {(record["case"], record["model"], record["shape"]) for record in records if "peer" not in record}
    assert ("decode_static_cache", "genvid", "2x4+3") in figures and ("decode_dynamic_cache", "hf_llama", "2x4+3") in figures
    assert ("train", "genvid_local_global", "1x8") in figures and ("train", "hf_llama", "1x8") in figures
    compared = {record["case"]: record for record in records if "peer" in record}
    assert compared["decode"]["better"] == "higher" and compared["train"]["better"] == "lower"
    assert compared["decode"]["peer"] == compared["train"]["peer"] == "hf_llama"
    cpu = {(record["case"], record["model"]): record["cpu_s"] for record in records
           if "peer" not in record and record["case"] in ("train", "decode_dynamic_cache")}
    assert all(seconds > 0 for seconds in cpu.values()) and len(cpu) == 4
    train_ratio = cpu[("train", "genvid")] / cpu[("train", "hf_llama")]
    assert abs(compared["train"]["cpu_ratio"] - train_ratio) < 1e-3 * train_ratio
    assert compared["decode"]["cpu_ratio"] > 0
    assert not [record for record in records if "error" in record or record["metric"] == "mfu"]  # no peak on a CPU


def test_no_decode_times_the_training_step_alone(capsys, monkeypatch):
    toy = dict(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, vocab_size=128,
               new_tokens=3, prefix_tokens=4, train_batch=1, train_length=8)
    monkeypatch.setitem(bench.PRESETS, "toy", toy)
    threads = torch.get_num_threads()
    try:
        code = bench.main(["--device", "cpu", "--preset", "toy", "--reps", "1", "--threads", "1", "--no-decode"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    cases = {record["case"] for record in records}
    assert "train" in cases and not any(case.startswith("decode") for case in cases), cases
