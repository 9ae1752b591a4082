"""genvid generate "PROMPT" --output out.mp4

Sound (pipelines with an audio codec): ``--audio cond.wav`` conditions either generator on a
soundtrack (the AR model's a2v task; the DiT's audio cross-attention) and an mp4 output carries that
sound; ``--model ar --task v2a --video in.mp4 --output out.wav|out.mp4`` makes a soundtrack for a
clip (an mp4 output is the input clip with the generated sound).
"""

HELP = "generate a video from a prompt (and optionally an image, a video or audio) with a pipeline"



def task_name(name: str) -> str:
    """An ``--task`` value: a name of the AR task table (imported only when the option is given)."""
    import argparse

    from genvid.models.ar_tasks import TASKS

    if name not in TASKS:
        raise argparse.ArgumentTypeError(f"unknown task {name!r}; the AR tasks are {', '.join(TASKS)}")
    return name


def add_arguments(parser) -> None:
    parser.add_argument("prompt", nargs="?", default="", help="the text prompt")
    parser.add_argument("--model", choices=("diffusion", "ar"), default="diffusion", help="which generator")
    parser.add_argument("--pipeline", default=None, help="a save_pretrained pipeline folder (default: the shipped demo)")
    parser.add_argument(
        "--output", "-o", required=True, help="out.mp4, out.gif or out.png (a contact sheet); out.wav for --task v2a"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    parser.add_argument("--image", default=None, help="first frame (image-to-video)")
    parser.add_argument("--video", default=None, help="conditioning video (ar: --task continue|inpaint|outpaint)")
    parser.add_argument(
        "--mask", default=None, help="ar inpaint/outpaint: an image the video's size, white = the region to generate"
    )
    parser.add_argument("--audio", default=None, help="a soundtrack to follow (wav, mp3, or a video's sound; a2v for ar)")
    parser.add_argument(
        "--task", type=task_name, default=None, metavar="TASK",
        help="ar task of genvid.models.ar_tasks (t2v, i2v, continue, ...; inferred from --image / --video / --audio)",
    )
    parser.add_argument("--num-frames", type=int, default=None, help="frames (1 + 4k)")
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="diffusion: denoising steps")
    parser.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    parser.add_argument("--temperature", type=float, default=None, help="ar: sampling temperature")
    parser.add_argument("--top-k", type=int, default=None, help="ar: top-k sampling")
    parser.add_argument("--top-p", type=float, default=None, help="ar: nucleus sampling")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=int, default=8)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")


def run(args) -> int:
    from pathlib import Path

    import torch

    from genvid.errors import GenvidError

    output = Path(args.output)
    suffix = output.suffix.lower()
    if args.task == "v2a":
        if args.model != "ar":
            raise GenvidError("--task v2a needs --model ar (the diffusion model does not make sound)")
        if args.video is None:
            raise GenvidError("--task v2a needs --video (the clip to make a soundtrack for)")
        if suffix not in (".wav", ".mp4"):
            raise GenvidError(f"--task v2a writes .wav or .mp4 (the clip with its new sound), got {output.name}")
    elif suffix not in (".mp4", ".gif", ".png"):
        raise GenvidError(f"--output must end in .mp4, .gif or .png, got {output.name}")
    if output.exists() and not args.overwrite:
        raise GenvidError(f"{output} exists; pass --overwrite to replace it")
    if not args.prompt.strip() and args.video is None and args.image is None and args.audio is None:
        raise GenvidError("give a prompt (or --image / --video / --audio to condition on)")
    if args.audio is not None and not Path(args.audio).is_file():
        raise GenvidError(f"--audio file not found: {args.audio}")

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    pipeline = load_pipeline(args.model, args.pipeline, device)
    generator = torch.Generator(device="cpu").manual_seed(args.seed)
    options = {
        "num_frames": args.num_frames,
        "height": args.height,
        "width": args.width,
        "guidance_scale": args.guidance,
    }
    if args.image is not None:
        options["image"] = args.image
    if args.audio is not None:
        options["audio"] = args.audio
    if args.model == "diffusion":
        if args.video is not None or args.mask is not None or args.task not in (None, "t2v", "i2v"):
            raise GenvidError("--video, --mask and --task are for --model ar")
        options["num_inference_steps"] = args.steps
    else:
        options.update(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, task=args.task)
        from genvid.data import read_video

        if args.video is not None:
            clip = read_video(args.video, num_frames=args.num_frames if args.task == "v2a" else None)
            if args.task == "v2a" and args.height and args.width:
                from genvid.data import resize_and_center_crop

                clip = resize_and_center_crop(clip, args.height, args.width)
            options["video"] = clip
        if args.mask is not None:
            if args.video is None:
                raise GenvidError("--mask needs --video (the clip to inpaint or outpaint)")
            options["mask"] = read_video(args.mask)[:, 0].mean(dim=0) > 0  # (H, W): bright = generate
    options = {key: value for key, value in options.items() if value is not None}
    if args.task == "v2a":
        for key in ("num_frames", "height", "width"):
            options.pop(key, None)  # the clip decides
    result = pipeline(prompt=args.prompt, generator=generator, output_type="pt", **options)
    from genvid.pipelines.common import frames_to_video

    video = frames_to_video(result.frames[0])
    output.parent.mkdir(parents=True, exist_ok=True)
    from genvid.data import write_contact_sheet, write_video
    from genvid.data.audio_io import write_audio

    sound = None if result.audio is None else result.audio[0]
    sample_rate = pipeline.audio_codec.config.sample_rate if getattr(pipeline, "audio_codec", None) is not None else 16000
    if suffix == ".wav":
        write_audio(output, sound, sample_rate)
    elif suffix == ".png":
        write_contact_sheet(output, video)
    elif suffix == ".mp4":
        write_video(output, video, fps=args.fps, audio=sound, sample_rate=sample_rate)
    else:
        write_video(output, video, fps=args.fps)
    print(output)
    return 0


def load_pipeline(model: str, path: str | None, device: str):
    from genvid.demo import demo_path

    if model == "diffusion":
        from genvid.pipelines.diffusion import GenVidDiffusionPipeline as pipeline_class
    else:
        from genvid.pipelines.ar import GenVidARPipeline as pipeline_class
    path = path or demo_path(model)
    pipeline = pipeline_class.from_pretrained(path)
    pipeline.set_progress_bar_config(leave=False)
    return pipeline.to(device)
