"""genvid encode VIDEO -o FILE.safetensors [--tokenizer PATH | --pretrained gaussian|fsq]

Writes the tokenizer's latents (continuous) or ids (discrete) with what ``genvid decode`` needs
to rebuild the video: the tokenizer (its path, or ``pretrained:<kind>`` for a shipped one, so the
file decodes on any installation), frame count, size and fps, as safetensors metadata. Without
--tokenizer the shipped Gaussian tokenizer (genvid/pretrained/) is used.
"""

from __future__ import annotations

HELP = "encode a video (or image) into tokenizer latents or token ids (.safetensors)"

FORMAT = "genvid-tokenizer-codes"


def add_arguments(parser) -> None:
    parser.add_argument("video", help="video or image file")
    parser.add_argument("--output", "-o", required=True, help="output .safetensors file")
    add_tokenizer_arguments(parser)
    parser.add_argument("--num-frames", type=int, default=None,
                        help="frames to read (default: all; trailing frames beyond 1 + 4k are dropped)")
    parser.add_argument("--frame-stride", type=int, default=1, help="keep every n-th frame")
    parser.add_argument("--height", type=int, default=None, help="resize + centre-crop to this height")
    parser.add_argument("--width", type=int, default=None, help="resize + centre-crop to this width")
    parser.add_argument("--chunk-size", type=int, default=None, help="latent frames per chunk (default: automatic)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])


def add_tokenizer_arguments(parser, tokenizer_default_help: str = "the shipped one, see --pretrained") -> None:
    parser.add_argument("--tokenizer", default=None,
                        help=f"a VideoTokenizer save_pretrained folder (default: {tokenizer_default_help})")
    parser.add_argument("--pretrained", default=None, choices=["gaussian", "fsq"],
                        help="which shipped tokenizer to use without --tokenizer: gaussian (continuous latents, "
                             "the default) or fsq (token ids)")


def tokenizer_reference(args) -> str:
    """What the arguments name: a folder path, or ``pretrained:<kind>`` for a shipped tokenizer."""
    from genvid.errors import GenvidError
    from genvid.pretrained import DEFAULT_KIND, REFERENCE_PREFIX

    if args.tokenizer and getattr(args, "pretrained", None):
        raise GenvidError("give either --tokenizer or --pretrained, not both")
    return args.tokenizer or REFERENCE_PREFIX + (getattr(args, "pretrained", None) or DEFAULT_KIND)


def tokenizer_folder(path: str | None, option: str = "--tokenizer"):
    """The checked save_pretrained folder a ``--tokenizer`` value names (``pretrained:<kind>``,
    None = the shipped Gaussian one), before any weight is read."""
    from genvid.commands.checks import HUB_ID, local_folder
    from genvid.errors import GenvidError
    from genvid.pretrained import REFERENCE_PREFIX, resolve_tokenizer

    folder = resolve_tokenizer(path)
    if path is not None and not str(path).startswith(REFERENCE_PREFIX) and not folder.exists():
        if HUB_ID.match(str(path)):
            local_folder(str(path), option, "tokenizer")  # says it is not local and will not be fetched
        raise GenvidError(f"no tokenizer at {folder}: no such folder (expected a save_pretrained folder)")
    if not (folder / "config.json").is_file():
        if (folder / "model_index.json").is_file() and (folder / "video_tokenizer" / "config.json").is_file():
            raise GenvidError(f"{option} {folder} is a pipeline folder; its tokenizer is {folder / 'video_tokenizer'}")
        raise GenvidError(f"no tokenizer at {folder}: expected {folder / 'config.json'} (a save_pretrained folder)")
    if not any(folder.glob("*.safetensors")):
        raise GenvidError(f"no tokenizer weights in {folder}: expected diffusion_pytorch_model.safetensors")
    return folder


def load_tokenizer(path: str | None, device, dtype):
    """A VideoTokenizer from a save_pretrained folder (or ``pretrained:<kind>``; None = the shipped
    Gaussian one), with a one-line error when it is missing."""
    from tokenizer import VideoTokenizer

    return VideoTokenizer.from_pretrained(str(tokenizer_folder(path)), torch_dtype=dtype).to(device).eval()


def tokenizer_config(path: str | None) -> dict:
    from genvid.commands.checks import read_json

    return read_json(tokenizer_folder(path) / "config.json", "--tokenizer")


def pick_device(name: str | None):
    from genvid.commands.checks import resolve_device

    return resolve_device(name)


def check_sizes(args) -> None:
    from genvid.commands.checks import check_number

    for option in ("num_frames", "frame_stride", "height", "width", "chunk_size"):
        check_number(getattr(args, option, None), "--" + option.replace("_", "-"), minimum=1)


def refuse_oversized(args, config: dict, device) -> None:
    """Encoding reads the whole clip at its own size, then resizes it: refuse what cannot fit."""
    from genvid.commands import memory
    from genvid.commands.checks import probe_media
    from genvid.errors import plural

    shape = probe_media(args.video, "video")
    frames = shape["num_frames"] // args.frame_stride
    if args.num_frames:
        frames = min(frames, args.num_frames)
    height, width = args.height or shape["height"], args.width or shape["width"]
    needed = (
        memory.video_bytes(1, frames, shape["height"], shape["width"]) * 5 // 4  # uint8 frames + float video
        + memory.video_bytes(1, frames, height, width)
        + memory.tokenizer_bytes(config, 1, frames, height, width)
    )
    memory.refuse_if_too_big(f"encoding {plural(frames, 'frame')} of {height}x{width}", needed, device)


def run(args) -> int:
    import sys
    from pathlib import Path

    import torch
    from safetensors.torch import save_file

    from genvid.data import probe_video, read_video, resize_and_center_crop
    from genvid.errors import GenvidError, plural

    check_sizes(args)
    device, dtype = pick_device(args.device), getattr(torch, args.dtype)
    reference = tokenizer_reference(args)
    refuse_oversized(args, tokenizer_config(reference), device)
    tokenizer = load_tokenizer(reference, device, dtype)
    video = read_video(args.video, num_frames=args.num_frames, frame_stride=args.frame_stride)
    if args.height or args.width:
        video = resize_and_center_crop(video, args.height or video.shape[-2], args.width or video.shape[-1])
    step = tokenizer.temporal_factor
    usable = 1 + (video.shape[1] - 1) // step * step
    if usable != video.shape[1]:
        print(f"genvid encode: using the first {usable} of {video.shape[1]} frames (the tokenizer needs 1 + {step}k)",
              file=sys.stderr)
        video = video[:, :usable]
    try:
        tokenizer.latent_shape(*video.shape[1:])
    except ValueError as error:
        raise GenvidError(f"{args.video}: {error} (use --height/--width to resize)") from None
    try:
        fps = float(probe_video(args.video).get("fps") or 8.0)
    except Exception:  # fps is a nicety for decode; a still image has none
        fps = 8.0
    fps /= args.frame_stride

    batch = video.unsqueeze(0).to(device, dtype)
    with torch.no_grad():
        if tokenizer.is_discrete:
            codes, kind = tokenizer.tokenize(batch, chunk_size=args.chunk_size).to(torch.int32), "ids"
        else:
            codes, kind = tokenizer.encode(batch, chunk_size=args.chunk_size).float(), "latents"
    metadata = {
        "format": FORMAT,
        "kind": kind,
        "tokenizer": reference if reference.startswith("pretrained:") else str(Path(reference).resolve()),
        "bottleneck": tokenizer.config.bottleneck,
        "num_frames": str(video.shape[1]),
        "height": str(video.shape[2]),
        "width": str(video.shape[3]),
        "fps": f"{fps:.6g}",
        "source": str(args.video),
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_file({kind: codes.cpu().contiguous()}, str(output), metadata=metadata)
    print(f"{output}: {kind} {tuple(codes.shape)} from {plural(video.shape[1], 'frame')} of {video.shape[2]}x{video.shape[3]}")
    return 0
