"""The DiT benchmark runs end to end on a tiny grid and prints lines in the one bench layout, with
comparison lines against its peer and MFU only against a known peak."""

import json

import torch

from genvid.bench.dit import main
from genvid.bench.report import FIELDS


def run_bench(capsys, *extra):
    threads = torch.get_num_threads()
    try:
        code = main(["--device", "cpu", "--preset", "small", "--latents", "1x4x4", "--text-length", "4",
                     "--repeats", "1", "--warmup", "0", "--threads", "1", *extra])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    captured = capsys.readouterr()
    assert "[bench dit" in captured.err  # progress goes to stderr, figures to stdout
    return [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]


def test_bench_prints_layout_lines_and_ratios(capsys):
    records = run_bench(capsys)
    assert all(set(FIELDS) <= set(record) and record["threads"] == 1 for record in records)
    assert [(record["case"], record["model"], record["metric"]) for record in records] == [
        ("setup", "-", "video_tokens"),
        ("forward", "genvid", "step_time"), ("train", "genvid", "step_time"),
        ("forward", "cogvideox", "step_time"), ("train", "cogvideox", "step_time"),
        ("forward", "genvid", "step_time"), ("train", "genvid", "step_time"),
    ]
    timed = records[1:5]
    assert all(record["value"] > 0 and record["unit"] == "s" for record in timed)
    assert abs(timed[0]["params_m"] / timed[2]["params_m"] - 1) < 0.05  # a peer of equal size
    for comparison, ours, theirs in ((records[5], timed[0], timed[2]), (records[6], timed[1], timed[3])):
        assert comparison["peer"] == "cogvideox" and comparison["better"] == "lower"
        assert abs(comparison["ratio"] - ours["value"] / theirs["value"]) < 1e-3 * comparison["ratio"]
        # the CPU time beside the wall clock, its ratio read the same way
        assert ours["cpu_s"] > 0 and theirs["cpu_s"] > 0
        assert abs(comparison["cpu_ratio"] - ours["cpu_s"] / theirs["cpu_s"]) < 1e-3 * comparison["cpu_ratio"]


def test_mfu_only_against_a_given_peak_on_cpu(capsys):
    assert not [record for record in run_bench(capsys, "--no-peer", "--no-train") if record["metric"] == "mfu"]
    mfu = [record for record in run_bench(capsys, "--no-peer", "--no-train", "--peak-tflops", "1")
           if record["metric"] == "mfu"]
    assert len(mfu) == 1 and 0 < mfu[0]["value"] < 1 and mfu[0]["peak_tflops"] == 1
