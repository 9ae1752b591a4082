"""genvid encode / decode / eval tokenizer / bench tokenizer on a tiny tokenizer."""

import json

import pytest
import torch
from safetensors import safe_open

from genvid.cli import main
from genvid.data import read_video, write_video
from tokenizer import VideoTokenizer

TINY = dict(base_channels=8, channel_multipliers=(1, 2, 2, 4), num_res_blocks=1, num_mid_blocks=1)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("tokenizer_cli")
    torch.manual_seed(0)
    VideoTokenizer(bottleneck="fsq", fsq_levels=(5, 5, 5), **TINY).save_pretrained(root / "fsq")
    VideoTokenizer(bottleneck="gaussian", latent_channels=4, **TINY).save_pretrained(root / "gaussian")
    clip = torch.rand(3, 11, 32, 32) * 2 - 1
    write_video(root / "clip.gif", clip, fps=8)
    return root


@pytest.mark.parametrize("kind", ["fsq", "gaussian"])
def test_encode_decode_round_trip(files, kind, capsys):
    codes = files / f"{kind}.safetensors"
    assert main(["encode", str(files / "clip.gif"), "-o", str(codes), "--tokenizer", str(files / kind)]) == 0
    with safe_open(str(codes), framework="pt") as handle:
        metadata = handle.metadata()
        key = "ids" if kind == "fsq" else "latents"
        tensor = handle.get_tensor(key)
    # 11 frames are trimmed to 9 = 1 + 4 * 2
    assert metadata["kind"] == key and metadata["num_frames"] == "9"
    assert tensor.shape[1 if kind == "fsq" else 2] == 3
    output = files / f"{kind}.gif"
    assert main(["decode", str(codes), "-o", str(output)]) == 0
    assert read_video(output).shape == (3, 9, 32, 32)


def test_encode_errors_are_one_line(files, capsys):
    assert main(["encode", str(files / "clip.gif"), "-o", str(files / "x.safetensors"), "--tokenizer", str(files / "nope")]) == 2
    assert "no tokenizer at" in capsys.readouterr().err
    assert main(["encode", str(files / "clip.gif"), "-o", str(files / "x.safetensors"), "--tokenizer", str(files / "fsq"),
                 "--height", "30"]) == 2
    assert "multiples of 8" in capsys.readouterr().err


def test_eval_tokenizer_prints_metrics_and_sheet(files, capsys):
    sheet, report = files / "sheet.png", files / "report.json"
    assert main(["eval", "tokenizer", str(files / "clip.gif"), "--tokenizer", str(files / "fsq"), "--num-frames", "9",
                 "--sheet", str(sheet), "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "PSNR" in out and "SSIM" in out and "codebook usage" in out
    assert sheet.is_file()
    summary = json.loads(report.read_text())["summary"]
    assert summary["clips"] == 1 and 0 < summary["codebook_usage"] <= 1


def test_bench_prints_json_lines(files, capsys):
    config = files / "bench.yaml"
    config.write_text("model:\n  base_channels: 8\n  channel_multipliers: [1, 2, 2, 4]\n  num_res_blocks: 1\n")
    assert main(["bench", "tokenizer", "--device", "cpu", "--shapes", "1x3x5x32x32", "--config", str(config),
                 "--repeats", "1", "--no-peer", "--flops"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert {line["case"] for line in lines} == {"encode", "decode"}
    assert all(line["metric"] == "frames_per_second" and line["value"] > 0 and line["gflops"] > 0 for line in lines)
