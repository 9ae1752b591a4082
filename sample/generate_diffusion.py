"""Text-to-video (and image-to-video) with the shipped demo diffusion pipeline, on a CPU.

    python sample/generate_diffusion.py --prompts sample/prompts.txt --output-dir samples/diffusion
    python sample/generate_diffusion.py --image first_frame.png --prompts sample/prompts.txt

One video across N processes (context parallelism: each holds 1/N of the video tokens):

    torchrun --nproc_per_node 2 sample/generate_diffusion.py --prompts sample/prompts.txt
"""

import os

import torch

import genvid
from genvid import GenVidDiffusionPipeline

from shared import argument_parser, read_prompts, write_outputs


def main() -> None:
    parser = argument_parser(__doc__, output_dir="samples/diffusion", guidance=4.0)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    prompts = read_prompts(args.prompts)
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
    if main_process:
        write_outputs(result.frames, args.output_dir)


if __name__ == "__main__":
    main()
