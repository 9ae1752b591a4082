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


def load_tokenizer(path: str | None, device, dtype):
    """A VideoTokenizer from a save_pretrained folder (or ``pretrained:<kind>``; None = the shipped
    Gaussian one), with a one-line error when it is missing."""
    from genvid.errors import GenvidError
    from genvid.pretrained import resolve_tokenizer
    from tokenizer import VideoTokenizer

    folder = resolve_tokenizer(path)
    if not (folder / "config.json").is_file():
        raise GenvidError(f"no tokenizer at {folder}: expected {folder / 'config.json'} (a save_pretrained folder)")
    if not any(folder.glob("*.safetensors")):
        raise GenvidError(f"no tokenizer weights in {folder}: expected diffusion_pytorch_model.safetensors")
    return VideoTokenizer.from_pretrained(str(folder), torch_dtype=dtype).to(device).eval()


def pick_device(name: str | None):
    import torch

    return torch.device(name or ("cuda" if torch.cuda.is_available() else "cpu"))


def run(args) -> int:
    import sys
    from pathlib import Path

    import torch
    from safetensors.torch import save_file

    from genvid.data import probe_video, read_video, resize_and_center_crop
    from genvid.errors import GenvidError

    device, dtype = pick_device(args.device), getattr(torch, args.dtype)
    reference = tokenizer_reference(args)
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
    print(f"{output}: {kind} {tuple(codes.shape)} from {video.shape[1]} frames of {video.shape[2]}x{video.shape[3]}")
    return 0
