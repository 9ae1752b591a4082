#!/usr/bin/env python
"""Train, evaluate and install genvid's shipped tokenizers (genvid/pretrained/tokenizer_{gaussian,fsq}).

The recipe: configs/tokenizer/default_{gaussian,fsq}.yaml through the project's one training loop
(the same as ``genvid train``), on bundled real photographs filmed by a simulated camera mixed with
the synthetic set; then held-out PSNR / SSIM (real: the held-out photographs; synthetic: the
held-out combinations) against a trivial baseline (every pixel the clip's mean colour), contact
sheets, and a copy of the export next to its figures.

    OMP_NUM_THREADS=1 python scripts/train_default_tokenizers.py --seed 0          # the configs' 1800 steps
    python scripts/train_default_tokenizers.py --skip-training     # evaluate + install existing runs
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent


def mean_colour_psnr(clips) -> float:
    from genvid.eval.metrics import psnr

    values = [float(psnr(clip.mean(dim=(1, 2, 3), keepdim=True).expand_as(clip), clip)) for _, clip in clips]
    return sum(values) / len(values)


def cell_mean_psnr(clips, spatial: int = 8, temporal: int = 4) -> float:
    """A stronger trivial baseline: every 8x8-pixel, 4-frame cell (the first frame alone) replaced
    by its mean colour -- what a tokenizer's latent grid holds with no learning at all."""
    from genvid.eval.metrics import psnr
    from tokenizer.layers import cell_mean_picture

    values = [float(psnr(cell_mean_picture(clip[None], spatial, temporal)[0], clip)) for _, clip in clips]
    return sum(values) / len(values)


def evaluate_export(folder: Path, destination: Path, num_frames: int, size: int) -> dict:
    from genvid.eval.tokenizer_eval import evaluate, heldout_clips, write_comparison_sheet
    from tokenizer import VideoTokenizer

    tokenizer = VideoTokenizer.from_pretrained(str(folder)).eval()
    figures = {"num_frames": num_frames, "height": size, "width": size}
    for kind in ("real", "synthetic"):
        clips = heldout_clips(kind, num_frames, size, size)
        results = list(evaluate(tokenizer, (clip for _, clip in clips), names=[name for name, _ in clips]))
        figures[kind] = {
            "clips": len(results),
            "psnr": sum(r[3]["psnr"] for r in results) / len(results),
            "ssim": sum(r[3]["ssim"] for r in results) / len(results),
            "mean_colour_baseline_psnr": mean_colour_psnr(clips),
            "cell_mean_baseline_psnr": cell_mean_psnr(clips),
            "per_clip": {name: figures_ for name, _, _, figures_, _ in results},
        }
        _, video, reconstruction, _, _ = results[0]
        write_comparison_sheet(destination / f"heldout_{kind}.png", video, reconstruction)
    return figures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", nargs="+", default=["gaussian", "fsq"], choices=["gaussian", "fsq"])
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the config's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", default="runs", help="where the training runs go (runs/default_tokenizer_<kind>)")
    parser.add_argument("--install-to", default=str(REPO / "genvid" / "pretrained"),
                        help="copy each export to <this>/tokenizer_<kind> with its figures")
    parser.add_argument("--skip-training", action="store_true", help="evaluate and install the existing runs")
    parser.add_argument("--resume", action="store_true", help="resume each run from its latest checkpoint")
    parser.add_argument("--eval-frames", type=int, default=17)
    parser.add_argument("--eval-size", type=int, default=64)
    parser.add_argument("overrides", nargs="*", help="extra config overrides (OmegaConf dot-list)")
    args = parser.parse_args(argv)
    torch.set_num_threads(int(__import__("os").environ.get("OMP_NUM_THREADS", "1")))

    from genvid.config import load_config
    from genvid.training.loop import train

    for kind in args.kinds:
        config_path = REPO / "configs" / "tokenizer" / f"default_{kind}.yaml"
        run_dir = Path(args.runs) / f"default_tokenizer_{kind}"
        overrides = [f"training.output_dir={run_dir}", f"training.seed={args.seed}", *args.overrides]
        if args.steps:
            overrides.append(f"training.max_steps={args.steps}")
        config = load_config(config_path, overrides)
        if not args.skip_training:
            train(config, resume="auto" if args.resume else None)
        export = run_dir / "final"
        if not (export / "config.json").is_file():
            print(f"{kind}: no export at {export} (train first)", file=sys.stderr)
            return 1
        destination = Path(args.install_to) / f"tokenizer_{kind}"
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(export, destination)
        figures = evaluate_export(destination, destination, args.eval_frames, args.eval_size)
        metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
        figures["training"] = {
            "config": str(config_path.relative_to(REPO)),
            "overrides": overrides,
            "steps": metrics[-1]["step"] if metrics else None,
            "final_loss": metrics[-1]["loss"] if metrics else None,
        }
        (destination / "figures.json").write_text(json.dumps(figures, indent=1) + "\n")
        shutil.copy(run_dir / "config.yaml", destination / "training_config.yaml")
        for split in ("real", "synthetic"):
            print(json.dumps({"tokenizer": kind, "heldout": split, **{
                key: round(value, 4) for key, value in figures[split].items() if isinstance(value, float)
            }}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
