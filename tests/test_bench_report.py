"""One layout for every bench line (genvid.bench.report), and every bench module registered."""

import io
import json
from pathlib import Path

import torch

from genvid.bench.report import FIELDS, Report, peak_flops
from genvid.commands.bench import BENCHMARKS


def test_every_bench_module_is_registered_under_genvid_bench():
    folder = Path(__file__).resolve().parents[1] / "genvid" / "bench"
    modules = {f"genvid.bench.{path.stem}" for path in folder.glob("*.py")} - {"genvid.bench.__init__", "genvid.bench.report"}
    assert modules == set(BENCHMARKS.values())


def test_lines_share_the_layout_with_ratio_or_difference_beside_a_peer():
    stream = io.StringIO()
    report = Report("toy", "cpu", torch.float32, stream=stream)
    report.figure("encode", "genvid", (1, 3, 9, 64, 64), "frames_per_second", 20.0, "frames/s", peak_gb=0.1)
    report.compare("encode", (1, 3, 9, 64, 64), "frames_per_second", 20.0, "cogvideox", 8.0, "frames/s", better="higher")
    report.compare("train", "1x3x9x32x32", "heldout_psnr", 21.5, "cogvideox", 19.25, "dB", better="higher")
    report.mfu("train", "genvid", "1x8", flops=1e9, seconds=1.0, peak=peak_flops("cpu", torch.bfloat16))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3  # no peak known for a CPU: no MFU line
    assert all(list(line)[:len(FIELDS)] == list(FIELDS) for line in lines)
    assert lines[0]["shape"] == "1x3x9x64x64" and lines[0]["threads"] == torch.get_num_threads()
    assert lines[1]["ratio"] == 2.5 and lines[1]["peer_value"] == 8.0 and "difference" not in lines[1]
    assert lines[2]["difference"] == 2.25 and "ratio" not in lines[2]
    assert peak_flops("cpu", torch.float32, given_tflops=2.0) == 2e12
