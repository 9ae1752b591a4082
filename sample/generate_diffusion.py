"""Text-to-video (and image-to-video) with the shipped demo diffusion pipeline, on a CPU.

    python sample/generate_diffusion.py --prompts sample/prompts.txt --output-dir samples/diffusion
    python sample/generate_diffusion.py --image first_frame.png --prompts sample/prompts.txt

One video across N processes (context parallelism: each holds 1/N of the video tokens):

    torchrun --nproc_per_node 2 sample/generate_diffusion.py --prompts sample/prompts.txt
"""

import argparse
import os
from pathlib import Path

import torch

import genvid
from genvid import GenVidDiffusionPipeline
from genvid.data import write_contact_sheet, write_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", default=str(Path(__file__).with_name("prompts.txt")))
    parser.add_argument("--pipeline", default=None, help="a saved pipeline folder (default: the shipped demo)")
    parser.add_argument("--image", default=None, help="first frame for image-to-video")
    parser.add_argument("--output-dir", default="samples/diffusion")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    prompts = [line.strip() for line in Path(args.prompts).read_text().splitlines() if line.strip()]
    pipeline = GenVidDiffusionPipeline.from_pretrained(args.pipeline or genvid.demo_path("diffusion"))
    main_process = True
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # every process runs the same pipeline with the same seed; the DiT splits its tokens over them
        import torch.distributed as dist

        dist.init_process_group("gloo")
        pipeline.transformer.enable_context_parallel()
        main_process = dist.get_rank() == 0
    result = pipeline(
        prompts,
        image=args.image,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        generator=torch.Generator().manual_seed(args.seed),
        output_type="pt",
    )
    if not main_process:
        return
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    videos = [frames.permute(1, 0, 2, 3) * 2 - 1 for frames in result.frames]  # (C, T, H, W) in [-1, 1]
    for index, video in enumerate(videos):
        write_video(output / f"{index:02d}.mp4", video)
    write_contact_sheet(output / "sheet.png", videos)
    print(f"wrote {len(videos)} videos and sheet.png to {output}")


if __name__ == "__main__":
    main()
