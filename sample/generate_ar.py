"""Text-to-video, image-to-video and continuation with the shipped demo autoregressive pipeline.

    python sample/generate_ar.py --prompts sample/prompts.txt --output-dir samples/ar
    python sample/generate_ar.py --video clip.mp4 --prompts sample/prompts.txt   # continue a clip
"""

import torch

import genvid
from genvid import GenVidARPipeline
from genvid.data import read_video

from shared import argument_parser, read_prompts, write_outputs


def main() -> None:
    parser = argument_parser(__doc__, output_dir="samples/ar", guidance=3.0)
    parser.add_argument("--video", default=None, help="a clip to continue")
    parser.add_argument("--top-k", type=int, default=20)
    args = parser.parse_args()

    prompts = read_prompts(args.prompts)
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
    write_outputs(result.frames, args.output_dir)


if __name__ == "__main__":
    main()
