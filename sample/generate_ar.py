"""Text-to-video, image-to-video and continuation with the shipped demo autoregressive pipeline.

    python sample/generate_ar.py --prompts sample/prompts.txt --output-dir samples/ar
    python sample/generate_ar.py --video clip.mp4 --prompts sample/prompts.txt   # continue a clip
"""

import argparse
from pathlib import Path

import torch

import genvid
from genvid import GenVidARPipeline
from genvid.data import read_video, write_contact_sheet, write_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", default=str(Path(__file__).with_name("prompts.txt")))
    parser.add_argument("--pipeline", default=None, help="a saved pipeline folder (default: the shipped demo)")
    parser.add_argument("--image", default=None, help="first frame (image-to-video)")
    parser.add_argument("--video", default=None, help="a clip to continue")
    parser.add_argument("--output-dir", default="samples/ar")
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--guidance", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    prompts = [line.strip() for line in Path(args.prompts).read_text().splitlines() if line.strip()]
    pipeline = GenVidARPipeline.from_pretrained(args.pipeline or genvid.demo_path("ar"))
    options = {}
    if args.image:
        options["image"] = args.image
    if args.video:
        options.update(video=read_video(args.video), task="continue")
    result = pipeline(
        prompts,
        top_k=args.top_k,
        guidance_scale=args.guidance,
        generator=torch.Generator().manual_seed(args.seed),
        output_type="pt",
        **options,
    )
    output = Path(args.output_dir)
    output.mkdir(parents=True, exist_ok=True)
    videos = [frames.permute(1, 0, 2, 3) * 2 - 1 for frames in result.frames]
    for index, video in enumerate(videos):
        write_video(output / f"{index:02d}.mp4", video)
    write_contact_sheet(output / "sheet.png", videos)
    print(f"wrote {len(videos)} videos and sheet.png to {output}")


if __name__ == "__main__":
    main()
