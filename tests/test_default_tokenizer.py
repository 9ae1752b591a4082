"""The shipped default tokenizers (genvid/pretrained/): offline loading, real reconstruction, CLI defaults."""

import pytest
import torch
from safetensors import safe_open

from genvid.cli import main
from genvid.data import read_video, write_video
from genvid.data.camera_motion import heldout_real_clips
from genvid.data.synthetic import HELDOUT_COMBINATIONS, render_clip
from genvid.errors import GenvidError
from genvid.eval.metrics import psnr
from genvid.pretrained import KINDS, load_pretrained_tokenizer, pretrained_tokenizer_path


def _mean_colour(clip):
    return clip.mean(dim=(1, 2, 3), keepdim=True).expand_as(clip)


@pytest.fixture(scope="module")
def tokenizers():
    return {kind: load_pretrained_tokenizer(kind) for kind in KINDS}


@pytest.fixture(scope="module")
def clips():
    real = heldout_real_clips(num_frames=5, height=32, width=32, clips_per_image=1)[0][1]
    synthetic = render_clip(*HELDOUT_COMBINATIONS[0], num_frames=5, height=32, width=32, seed=0)
    return {"real": real, "synthetic": synthetic}


def _reconstruct(tokenizer, clip):
    with torch.no_grad():
        return tokenizer.decode(tokenizer.encode(clip[None]))[0].clamp(-1, 1)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("source,margin", [("real", 3.0), ("synthetic", 1.0)])
def test_shipped_tokenizer_beats_the_mean_colour(tokenizers, clips, kind, source, margin):
    # Held-out clips (a photograph never trained on; a held-out combination): the reconstruction
    # must beat painting every pixel with the clip's mean colour by a clear margin (measured on
    # 17x64x64 held-out sets: gaussian +5.5 dB real / +5.3 synthetic, fsq +3.3 / +3.3).
    tokenizer, clip = tokenizers[kind], clips[source]
    assert tokenizer.spatial_factor == 8 and tokenizer.temporal_factor == 4
    reconstruction = _reconstruct(tokenizer, clip)
    assert reconstruction.shape == clip.shape
    gain = float(psnr(reconstruction, clip)) - float(psnr(_mean_colour(clip), clip))
    assert gain > margin, f"{kind} on a held-out {source} clip: only {gain:.1f} dB above the mean colour"


#: dB above the cell-mean picture on the held-out coffee photograph (9x64x64, one camera path):
#: just under today's margins (measured: gaussian +8.52 since the 30000-step Haar retraining, fsq
#: +1.34), so a regression fails. Issue 22's goals on the whole held-out set are 7 / 5 dB; the
#: gaussian reaches +5.87 there (genvid/pretrained/README.md), the fsq is not retrained yet.
CELL_MEAN_MARGINS = {"gaussian": 8.0, "fsq": 1.0}


@pytest.mark.parametrize("kind", KINDS)
def test_shipped_tokenizer_beats_the_cell_mean_picture(tokenizers, kind):
    from tokenizer.layers import cell_mean_picture

    name, clip = heldout_real_clips(num_frames=9, height=64, width=64, clips_per_image=1)[0]
    assert name.startswith("coffee")
    baseline = float(psnr(cell_mean_picture(clip[None])[0], clip))
    gain = float(psnr(_reconstruct(tokenizers[kind], clip), clip)) - baseline
    assert gain > CELL_MEAN_MARGINS[kind], f"{kind} on {name}: {gain:+.2f} dB against the cell-mean picture"


def test_pretrained_paths_and_unknown_kind():
    for kind in KINDS:
        folder = pretrained_tokenizer_path(kind)
        assert (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))
    with pytest.raises(GenvidError, match="unknown pretrained tokenizer"):
        pretrained_tokenizer_path("lfq")


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory, clips):
    path = tmp_path_factory.mktemp("default_tokenizer") / "clip.gif"
    write_video(path, clips["real"], fps=8)
    return path


@pytest.mark.parametrize("kind", [None, "fsq"])
def test_encode_decode_default_to_the_shipped_tokenizer(clip_file, kind):
    codes = clip_file.with_name(f"codes_{kind}.safetensors")
    argv = ["encode", str(clip_file), "-o", str(codes)] + (["--pretrained", kind] if kind else [])
    assert main(argv) == 0
    with safe_open(str(codes), framework="pt") as handle:
        assert handle.metadata()["tokenizer"] == f"pretrained:{kind or 'gaussian'}"
    output = clip_file.with_name(f"decoded_{kind}.gif")
    assert main(["decode", str(codes), "-o", str(output)]) == 0
    decoded = read_video(output)
    assert decoded.shape == (3, 5, 32, 32)
    assert float(psnr(decoded, read_video(clip_file))) > 10.0  # an untrained tokenizer gives about 7 dB


def test_eval_writes_sheet_with_error_panel(clip_file, capsys):
    sheet = clip_file.with_name("sheet.png")
    assert main(["eval", "tokenizer", str(clip_file), "--num-frames", "5", "--sheet", str(sheet), "--sheet-frames", "2"]) == 0
    out = capsys.readouterr().out
    assert "PSNR" in out and "SSIM" in out and "mean over 1 clips" in out
    from PIL import Image

    width, height = Image.open(sheet).size
    assert width > 3 * 32 and height > 2 * 32  # input | reconstruction | error, one row per shown frame
    assert main(["eval", "tokenizer", "--heldout", "synthetic", "--pretrained", "fsq", "--max-clips", "1",
                 "--num-frames", "1", "--height", "32", "--width", "32"]) == 0
    assert "codebook usage" in capsys.readouterr().out


def test_budget_bench_reports_both_models(capsys):
    import json

    from genvid.bench.tokenizer_budget import main as bench

    assert bench(["--in-process", "--device", "cpu", "--budget-seconds", "0.01", "--num-frames", "9", "--crop", "16",
                  "--batch-size", "1", "--size", "tiny"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    figures = {(record["model"], record["metric"]): record["value"] for record in records if "peer" not in record}
    for model in ("genvid", "genvid_haar", "cogvideox"):
        assert figures[(model, "steps")] >= 1 and 0 < figures[(model, "heldout_psnr")] < 60
    assert 10 < figures[("cell_mean", "heldout_psnr")] < 60  # the no-learning baseline on the same clips
    psnr = next(record for record in records if "peer" in record and record["metric"] == "heldout_psnr")
    assert abs(psnr["difference"] - (psnr["value"] - psnr["peer_value"])) < 1e-2
    assert bench(["--in-process", "--num-frames", "5", "--crop", "16"]) == 2  # CogVideoX needs 1 + 8k frames
