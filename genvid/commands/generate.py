"""genvid generate "PROMPT" --output out.mp4

Sound (pipelines with an audio codec): ``--audio cond.wav`` conditions either generator on a
soundtrack (the AR model's a2v task; the DiT's audio cross-attention) and an mp4 output carries that
sound; ``--model ar --task v2a --video in.mp4 --output out.wav|out.mp4`` makes a soundtrack for a
clip (an mp4 output is the input clip with the generated sound); ``--with-audio`` (the AR model,
the default then) writes text to video with its sound: the clip, then its v2a soundtrack, in one mp4.
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
    parser.add_argument("--model", choices=("diffusion", "ar"), default=None,
                        help="which generator (default: what --pipeline holds, else the diffusion demo); with "
                             "--pipeline it only checks the folder's kind")
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
    parser.add_argument("--with-audio", action="store_true",
                        help="ar (the default then): the clip and a soundtrack for it (v2a), both in the .mp4")
    parser.add_argument(
        "--task", type=task_name, default=None, metavar="TASK",
        help="ar task of genvid.models.ar_tasks (t2v, i2v, continue, ...; inferred from --image / --video / --audio)",
    )
    parser.add_argument(
        "--keyframe", action="append", default=None, metavar="PATH@INDEX",
        help="an image to hold at frame INDEX (repeatable; first and last = interpolation; ar: temporal inpainting)",
    )
    parser.add_argument("--strength", type=float, default=None, help="diffusion --video: how far from the input (0..1)")
    parser.add_argument(
        "--structure", choices=("grey",), default=None,
        help="diffusion --video: start from the input's grey-level map (stylization: colour from the prompt)",
    )
    parser.add_argument(
        "--num-frames", type=int, default=None,
        help="frames (1 + 4k); past the model's window (17) the video is made window by window; "
             "ar continue: default the clip's frames + 16",
    )
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None, help="diffusion: denoising steps")
    parser.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale")
    parser.add_argument("--temperature", type=float, default=None, help="ar: sampling temperature")
    parser.add_argument("--top-k", type=int, default=None, help="ar: top-k sampling")
    parser.add_argument("--top-p", type=float, default=None, help="ar: nucleus sampling")
    parser.add_argument("--seed", type=int, default=0)
    import argparse

    parser.add_argument("--read-prompt", action=argparse.BooleanOptionalAction, default=None,
                        help="read a prompt in words the captions never use as the caption it means "
                             "(genvid.pipelines.prompt_reading); --no-read-prompt encodes it as it is (default: the "
                             "pipeline's read_prompts, on in the diffusion demo)")
    parser.add_argument("--fps", type=int, default=8)
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    parser.add_argument(
        "--lora", action="append", default=[], metavar="PATH[:SCALE]",
        help="a LoRA adapter (file or folder) at a scale (default 1); repeat to combine several",
    )
    parser.add_argument("--quantize", choices=("int8", "int8_dynamic"), default=None,
                        help="quantize the transformer with torchao (int8: weight-only)")
    from genvid.commands import upscaling

    upscaling.add_arguments(parser)


def run(args) -> int:
    import torch

    from genvid.commands.checks import resolve_device

    output = check_request(args)
    device = resolve_device(args.device)
    folder, model = pipeline_folder(args)
    options = conditioning(args, model)
    check_fits(args, folder, model, options, device)
    # LoRA and quantization use diffusers' pipeline class; plain sampling runs without it (faster start)
    pipeline = load_pipeline(model, str(folder), str(device), standalone=not (args.lora or args.quantize))
    if args.lora:
        from genvid.pipelines.lora import load_adapters

        load_adapters(pipeline, args.lora)
    if args.quantize:
        if args.lora:
            pipeline.fuse_lora()
            pipeline.unload_lora_weights()
        pipeline.quantize(args.quantize)
    generator = torch.Generator(device="cpu").manual_seed(args.seed)
    read_prompt = pipeline.reads_prompts(args.read_prompt)
    result = pipeline(prompt=args.prompt, generator=generator, output_type="pt", read_prompt=read_prompt, **options)
    if args.with_audio:
        from genvid.pipelines.ar import with_soundtrack

        result = with_soundtrack(pipeline, result, generator)
    if args.upscaler_folder is not None:
        from genvid.commands import upscaling

        result = upscaling.apply(args.upscaler_folder, result, device)
    write_result(args, output, pipeline, result)
    print(output)
    from genvid.known_prompts import KnownCaptions

    known = KnownCaptions.from_folder(folder)
    line = known.far_prompt_line(pipeline.text_encoder, args.prompt) if known is not None else None
    if line:
        print(line)
    if read_prompt:
        from genvid.pipelines.prompt_reading import reading_line

        caption = pipeline.prompt_reader.read(pipeline.text_encoder, [args.prompt])[0]
        if caption is not None:
            print(reading_line(args.prompt, caption))
    return 0


def check_with_audio(args, suffix: str) -> None:
    from genvid.errors import GenvidError

    if args.model is None and args.pipeline is None:
        args.model = "ar"  # the LM writes sound; the DiT only follows it
    check_sound_maker(args)
    if args.audio is not None or args.task not in (None, "t2v", "i2v"):
        raise GenvidError("--with-audio makes the sound for a clip from the prompt (or --image); it takes no --audio or --task "
                          f"{args.task or ''}".rstrip())
    if suffix != ".mp4":
        raise GenvidError("--with-audio writes an .mp4 (picture and sound)")


def check_sound_maker(args) -> None:
    from genvid.errors import GenvidError

    if args.with_audio and args.model == "diffusion":
        raise GenvidError("--with-audio needs --model ar (the diffusion model follows a sound but does not make one)")


def check_request(args):
    """Every option checked before anything is loaded; returns the output path."""
    from pathlib import Path

    from genvid.commands.checks import check_adapters, check_options, existing_file
    from genvid.errors import GenvidError

    output = Path(args.output)
    suffix = output.suffix.lower()
    if args.task == "v2a":
        if args.model not in (None, "ar"):
            raise GenvidError("--task v2a needs --model ar (the diffusion model does not make sound)")
        if args.video is None:
            raise GenvidError("--task v2a needs --video (the clip to make a soundtrack for)")
        if suffix not in (".wav", ".mp4"):
            raise GenvidError(f"--task v2a writes .wav or .mp4 (the clip with its new sound), got {output.name}")
    elif suffix not in (".mp4", ".gif", ".png"):
        raise GenvidError(f"--output must end in .mp4, .gif or .png, got {output.name}")
    if args.with_audio:
        check_with_audio(args, suffix)
    if output.exists() and not args.overwrite:
        raise GenvidError(f"{output} exists; pass --overwrite to replace it")
    if output.is_dir():
        raise GenvidError(f"--output {output} is a folder")
    if not args.prompt.strip() and args.video is None and args.image is None and args.audio is None:
        raise GenvidError("give a prompt (or --image / --video / --audio to condition on)")
    check_options(args, {
        "--num-frames": {"minimum": 1}, "--height": {"minimum": 1}, "--width": {"minimum": 1},
        "--steps": {"minimum": 1, "maximum": 10000}, "--guidance": {"minimum": 0}, "--temperature": {"minimum": 0},
        "--top-k": {"minimum": 1}, "--top-p": {"above": 0, "maximum": 1}, "--fps": {"above": 0, "maximum": 1000},
        "--strength": {"minimum": 0, "maximum": 1}, "--seed": {},
    })
    check_task(args)
    check_adapters(args.lora)
    if args.audio is not None:
        existing_file(args.audio, "--audio")
    args.keyframes = [parse_keyframe(text) for text in args.keyframe or []]
    from genvid.commands import upscaling

    args.upscaler_folder = upscaling.check(args)
    return output


def check_task(args) -> None:
    """Inputs a task cannot use are refused, never silently dropped."""
    from genvid.errors import GenvidError

    if args.model == "diffusion" and (args.mask is not None or args.task not in (None, "t2v", "i2v")):
        raise GenvidError("--mask and --task continue|inpaint|outpaint|v2a|a2v are for --model ar")
    if args.model == "ar" and (args.strength is not None or args.structure is not None):
        raise GenvidError("--strength and --structure are for --model diffusion (ar: --task inpaint on a clip)")
    if args.model == "ar" and args.keyframe and (args.video is not None or args.image is not None or args.task not in (None, "keyframes")):
        raise GenvidError("ar --keyframe takes no --image, --video or other --task (the first frame is --keyframe PATH@0)")
    if args.video is None and (args.strength is not None or args.structure is not None):
        raise GenvidError("--strength and --structure need --video (video-to-video)")
    if args.task == "t2v" and (args.image or args.video or args.audio or args.mask):
        given = [f"--{name}" for name in ("image", "video", "audio", "mask") if getattr(args, name)]
        raise GenvidError(f"--task t2v takes only the prompt, not {' '.join(given)}; drop --task to use them")
    if args.task == "i2v" and args.image is None and args.video is None:
        raise GenvidError("--task i2v needs --image (the first frame)")
    if args.task in ("continue", "inpaint", "outpaint") and args.video is None:
        raise GenvidError(f"--task {args.task} needs --video")
    if args.task in ("inpaint", "outpaint") and args.mask is None:
        raise GenvidError(f"--task {args.task} needs --mask (white = the region to generate)")
    if args.mask is not None and args.task not in (None, "inpaint", "outpaint"):
        raise GenvidError(f"--mask is for --task inpaint|outpaint, not {args.task}")
    if args.task == "a2v" and args.audio is None:
        raise GenvidError("--task a2v needs --audio")


def pipeline_folder(args):
    """The pipeline folder and its kind, read from model_index.json; ``--model`` only checks it."""
    from genvid.commands.checks import pipeline_folder as checked_folder

    from genvid.commands.checks import has_component
    from genvid.errors import GenvidError

    folder, args.model = checked_folder(args.pipeline, args.model)
    check_task(args)  # again, now that the kind is known
    check_sound_maker(args)
    if (args.audio is not None or args.task == "v2a" or args.with_audio) and not has_component(folder, "audio_codec"):
        option = "--audio" if args.audio is not None else "--with-audio" if args.with_audio else "--task v2a"
        raise GenvidError(f"{option}: the pipeline {folder} has no audio codec (it was trained without sound); "
                          "give a pipeline trained with audio")
    return folder, args.model


def conditioning(args, model: str) -> dict:
    """Pipeline keyword arguments, with every file read (or probed) and checked."""
    from genvid.commands.checks import check_image_file, probe_audio, probe_media

    options = {"num_frames": args.num_frames, "height": args.height, "width": args.width, "guidance_scale": args.guidance}
    if args.image is not None:
        check_image_file(args.image)
        options["image"] = args.image
    if args.audio is not None:
        probe_audio(args.audio)
        options["audio"] = args.audio
    if model == "diffusion":
        options["num_inference_steps"] = args.steps
        if args.keyframes:
            options["keyframes"] = args.keyframes
        if args.video is not None:
            from genvid.data import resize_and_center_crop

            probe_media(args.video, "--video")
            clip = read_clip(args, num_frames=args.num_frames)
            clip = resize_and_center_crop(clip, args.height or 64, args.width or 64)
            options.update(video=clip, num_frames=clip.shape[1], strength=args.strength, structure=args.structure)
    else:
        options.update(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, task=args.task)
        if args.keyframes:
            options["keyframes"] = args.keyframes
        if args.video is not None:
            probe_media(args.video, "--video")
            options["video"] = read_clip(args)
        if args.mask is not None:
            from genvid.data import read_video

            check_image_file(args.mask, "--mask")
            options["mask"] = read_video(args.mask)[:, 0].mean(dim=0) > 0  # (H, W): bright = generate
    options = {key: value for key, value in options.items() if value is not None}
    if args.task == "v2a":
        for key in ("num_frames", "height", "width"):
            options.pop(key, None)  # the clip decides
    return options


def parse_keyframe(text: str):
    """``PATH@INDEX`` -> ``(path, index)``, checked."""
    from genvid.commands.checks import check_image_file
    from genvid.errors import GenvidError

    path, separator, index = text.rpartition("@")
    if not separator or not index.isdigit():
        raise GenvidError(f"--keyframe must be PATH@INDEX (a frame number), got {text!r}")
    check_image_file(path, "--keyframe")
    return path, int(index)


def read_clip(args, num_frames: int | None = None):
    from genvid.data import read_video, resize_and_center_crop

    clip = read_video(args.video, num_frames=args.num_frames if args.task == "v2a" else num_frames)
    if args.task == "v2a" and args.height and args.width:
        clip = resize_and_center_crop(clip, args.height, args.width)
    return clip


def check_fits(args, folder, model: str, options: dict, device) -> None:
    """Sizes the pipeline's models can take, and memory for them, checked from the saved configs."""
    from genvid.commands import memory
    from genvid.commands.checks import component_config
    from genvid.errors import GenvidError, plural

    tokenizer = component_config(folder, "video_tokenizer")
    transformer = component_config(folder, "transformer")
    clip = options.get("video")
    continuing = model == "ar" and clip is not None and args.mask is None and args.task in (None, "continue")
    frames = options.get("num_frames", clip.shape[1] + 16 if continuing else 17)
    height, width = options.get("height", 64), options.get("width", 64)
    if args.task == "v2a" and clip is not None:
        frames, height, width = clip.shape[1:]
    temporal, spatial = memory.tokenizer_factors(tokenizer)
    spatial *= int(transformer.get("patch_size", 1)) if model == "diffusion" else 1
    if (frames - 1) % temporal:
        low = 1 + (frames - 1) // temporal * temporal
        raise GenvidError(f"--num-frames {frames}: this pipeline makes 1 + {temporal}k frames (e.g. {low} or {low + temporal})")
    if height % spatial or width % spatial:
        raise GenvidError(f"--height/--width {height}x{width}: this pipeline needs multiples of {spatial}")
    if args.task == "continue" and clip is not None and clip.shape[1] >= frames:
        usable = 1 + (clip.shape[1] - 1) // temporal * temporal
        raise GenvidError(
            f"--video {args.video} has {plural(clip.shape[1], 'frame')} and --num-frames is {frames}: a continuation writes "
            f"--num-frames in all, the given frames first; pass --num-frames {usable + temporal} or more"
        )
    batch = 1
    streams = batch * (2 if (args.guidance is None or args.guidance > 1) else 1)
    # past one window (17 frames) the transformer sees one window at a time
    tokens = (1 + (min(frames, 17) - 1) // temporal) * (height // spatial) * (width // spatial)
    needed = (
        memory.weight_bytes(folder)
        + memory.VIDEO_COPIES * memory.video_bytes(batch, frames, height, width)
        + memory.tokenizer_bytes(tokenizer, batch, frames, height, width)
        + memory.transformer_bytes(transformer, streams, tokens, model)
    )
    memory.refuse_if_too_big(f"generating {plural(frames, 'frame')} of {height}x{width}", needed, device)


def write_result(args, output, pipeline, result) -> None:
    from genvid.data import write_contact_sheet, write_video
    from genvid.data.audio_io import write_audio

    from genvid.pipelines.common import frames_to_video

    video = frames_to_video(result.frames[0])
    output.parent.mkdir(parents=True, exist_ok=True)
    suffix = output.suffix.lower()
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


def load_pipeline(model: str | None, path: str | None, device: str, standalone: bool = False):
    """A pipeline from a folder (default: the shipped demo of ``model``), its kind checked first.
    ``standalone``: where :mod:`genvid.pipelines.standalone` can load the folder, the same steps
    without diffusers' pipeline base (and the import of every diffusers model it brings)."""
    from genvid.commands.checks import pipeline_folder as checked_folder

    folder, kind = checked_folder(path, model)
    pipeline = None
    if standalone and kind == "diffusion":
        from genvid.pipelines.standalone import load

        pipeline = load(folder)
    if pipeline is None:
        if kind == "diffusion":
            from genvid.pipelines.diffusion import GenVidDiffusionPipeline as pipeline_class
        else:
            from genvid.pipelines.ar import GenVidARPipeline as pipeline_class
        pipeline = pipeline_class.from_pretrained(str(folder))
    pipeline.set_progress_bar_config(leave=False)
    return pipeline.to(device)
