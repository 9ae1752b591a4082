"""Does the analyzer read the same colour, shape and motion in a generated clip and in its 2x upscaling?

For each held-out combination (genvid.data.synthetic.HELDOUT_COMBINATIONS), the shipped demo
generator (--model) draws its canonical caption at 64x64, the upscale pipeline (--upscaler,
default the shipped demo) makes it 128x128, and genvid's analyzer reads both. Generated clips have
no true high-resolution clip, so there is no PSNR here (genvid eval upscale measures that on
rendered clips). Prints one JSON line.

    python scripts/measure_upscale_generated.py --model diffusion
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("diffusion", "ar"), default="diffusion")
    parser.add_argument("--upscaler", default=None, help="an upscale pipeline folder (default: the shipped demo)")
    parser.add_argument("--steps", type=int, default=None, help="diffusion steps (default: the pipeline's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from genvid.commands.generate import load_pipeline
    from genvid.data.synthetic import HELDOUT_COMBINATIONS, caption_for
    from genvid.eval.analyzer import analyze_clip
    from genvid.pipelines.common import frames_to_video
    from genvid.pipelines.upscale import load_upscale_pipeline

    generator_pipeline = load_pipeline(args.model, None, "cpu")
    upscaler = load_upscale_pipeline(args.upscaler)
    options = {"num_inference_steps": args.steps} if args.model == "diffusion" and args.steps else {}
    rows = []
    for index, combination in enumerate(HELDOUT_COMBINATIONS):
        caption = caption_for(*combination)
        generator = torch.Generator().manual_seed(args.seed + index)
        frames = generator_pipeline(prompt=caption, generator=generator, output_type="pt", **options).frames
        low = frames_to_video(frames)
        high = frames_to_video(upscaler(video=low, output_type="pt").frames)
        reads = [tuple(analyze_clip(clip[0])[name] for name in ("color", "shape", "motion")) for clip in (low, high)]
        rows.append({"caption": caption, "low": reads[0], "high": reads[1], "same": reads[0] == reads[1],
                     "prompt_low": reads[0] == combination, "prompt_high": reads[1] == combination})
    summary = {
        "model": args.model,
        "clips": len(rows),
        "same_fraction": sum(row["same"] for row in rows) / len(rows),
        "prompt_fraction_64": sum(row["prompt_low"] for row in rows) / len(rows),
        "prompt_fraction_128": sum(row["prompt_high"] for row in rows) / len(rows),
        "differing": [row for row in rows if not row["same"]],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
