"""The DiT benchmark runs end to end on a tiny grid and prints JSON lines with a ratio."""

import json

import torch

from genvid.bench.dit import main


def test_bench_prints_json_lines_and_ratios(capsys):
    threads = torch.get_num_threads()
    try:
        code = main(["--device", "cpu", "--preset", "small", "--latents", "1x4x4", "--text-length", "4",
                     "--repeats", "1", "--warmup", "0", "--threads", "1"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    cases = [record["case"] for record in records]
    assert cases == [
        "setup", "genvid_dit_forward_1x4x4", "genvid_dit_train_1x4x4", "cogvideox_dit_forward_1x4x4",
        "cogvideox_dit_train_1x4x4", "ratio_forward_1x4x4", "ratio_train_1x4x4",
    ]
    timed = [record for record in records if "step_s" in record]
    assert all(record["step_s"] > 0 and record["mfu"] > 0 for record in timed)
    assert timed[0]["params_m"] == timed[2]["params_m"]  # equal-size peer
