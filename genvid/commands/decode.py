"""genvid decode FILE.safetensors -o VIDEO.mp4 [--tokenizer PATH]"""

from __future__ import annotations

HELP = "decode latents or token ids written by 'genvid encode' back into a video (mp4 / gif / png)"


def add_arguments(parser) -> None:
    parser.add_argument("codes", help="a .safetensors file written by 'genvid encode'")
    parser.add_argument("--output", "-o", required=True, help="output video (.mp4 or .gif) or a .png contact sheet")
    parser.add_argument("--tokenizer", default=None,
                        help="tokenizer folder (default: the one recorded in the file; a shipped one when it "
                             "was written with genvid's default tokenizer)")
    parser.add_argument("--fps", type=float, default=None, help="frames per second (default: the source's)")
    parser.add_argument("--chunk-size", type=int, default=None, help="latent frames per chunk (default: automatic)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])


def run(args) -> int:
    from pathlib import Path

    import torch
    from safetensors import safe_open

    from genvid.commands.encode import FORMAT, check_sizes, load_tokenizer, pick_device, tokenizer_config
    from genvid.data import write_contact_sheet, write_video
    from genvid.commands.checks import check_number, existing_file
    from genvid.errors import GenvidError, plural

    check_sizes(args)
    check_number(args.fps, "--fps", above=0, maximum=1000)
    output = Path(args.output)
    if output.suffix.lower() not in (".mp4", ".gif", ".png"):
        raise GenvidError(f"--output must end in .mp4, .gif or .png, got {output.name}")
    path = existing_file(args.codes, "codes file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as error:
        raise GenvidError(f"cannot read {path}: {str(error).splitlines()[0]}") from None
    if metadata.get("format") != FORMAT or metadata.get("kind") not in tensors:
        raise GenvidError(f"{path} was not written by 'genvid encode' (no {FORMAT} metadata)")
    # files from before the shipped tokenizers existed may record none: fall back to the shipped one
    # that fits what the file holds
    fallback = "pretrained:" + ("fsq" if metadata["kind"] == "ids" else "gaussian")
    tokenizer_path = args.tokenizer or metadata.get("tokenizer") or fallback
    device, dtype = pick_device(args.device), getattr(torch, args.dtype)
    refuse_oversized(tensors[metadata["kind"]].shape, tokenizer_config(tokenizer_path), device)
    tokenizer = load_tokenizer(tokenizer_path, device, dtype)
    codes = tensors[metadata["kind"]].to(device)
    with torch.no_grad():
        if metadata["kind"] == "ids":
            if not tokenizer.is_discrete:
                raise GenvidError(f"{path} holds token ids but the tokenizer at {tokenizer_path} is continuous")
            video = tokenizer.detokenize(codes.long(), chunk_size=args.chunk_size)
        else:
            if codes.shape[1] != tokenizer.latent_channels:
                raise GenvidError(
                    f"{path} holds {codes.shape[1]}-channel latents; the tokenizer at {tokenizer_path} "
                    f"has {tokenizer.latent_channels}"
                )
            video = tokenizer.decode(codes.to(dtype), chunk_size=args.chunk_size)
    video = video[0].float().clamp(-1, 1).cpu()
    if output.suffix.lower() == ".png":
        write_contact_sheet(output, video)
    else:
        write_video(output, video, fps=args.fps or float(metadata.get("fps", 8)))
    print(f"{output}: {plural(video.shape[1], 'frame')} of {video.shape[2]}x{video.shape[3]}")
    return 0


def refuse_oversized(shape, config: dict, device) -> None:
    """The video a codes file decodes to, estimated from its grid before the tokenizer loads."""
    from genvid.commands import memory
    from genvid.errors import plural

    grid = shape[-3:]  # (t, h, w) of ids (B, t, h, w) or latents (B, c, t, h, w)
    temporal, spatial = memory.tokenizer_factors(config)
    frames = 1 + temporal * (int(grid[0]) - 1)
    height, width = int(grid[1]) * spatial, int(grid[2]) * spatial
    batch = int(shape[0])
    needed = memory.VIDEO_COPIES * memory.video_bytes(batch, frames, height, width) + memory.tokenizer_bytes(
        config, batch, frames, height, width
    )
    memory.refuse_if_too_big(f"decoding {plural(frames, 'frame')} of {height}x{width}", needed, device)
