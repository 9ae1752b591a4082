"""genvid dataset {synth,check,sheet,index,encode} ..."""

HELP = (
    "datasets: render the synthetic captioned set to disk, check or index a manifest, view a video as a PNG grid, "
    "encode a manifest into a latent + text cache"
)


def add_arguments(parser) -> None:
    subparsers = parser.add_subparsers(dest="dataset_command", metavar="WHAT", required=True)

    synth = subparsers.add_parser(
        "synth", help="write synthetic clips (mp4) and manifest.jsonl (video, caption, color, shape, motion)", description="write synthetic clips (mp4) and manifest.jsonl (video, caption, color, shape, motion)"
    )
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument("--num", type=int, required=True, help="number of clips")
    synth.add_argument("--split", default="train", choices=("train", "heldout", "all"))
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--num-frames", type=int, default=17)
    synth.add_argument("--height", type=int, default=64)
    synth.add_argument("--width", type=int, default=64)
    synth.add_argument("--fps", type=float, default=8)
    synth.add_argument(
        "--audio-sample-rate", type=int, default=None, help="also mux the synthetic soundtrack (a tone naming the attributes)"
    )
    synth.add_argument(
        "--varied", action="store_true",
        help="instead: camera moves over bundled photographs at mixed lengths, sizes and aspect ratios, every 5th a png image",
    )
    synth.set_defaults(_dataset_run=run_synth)

    check_help = "decode every file of a manifest and list the unreadable ones"
    check = subparsers.add_parser("check", help=check_help, description=check_help)
    check.add_argument("manifest", help="CSV or JSONL manifest with video and caption columns")
    check.set_defaults(_dataset_run=run_check)

    sheet_help = "write a video's frames as a PNG contact sheet"
    sheet = subparsers.add_parser("sheet", help=sheet_help, description=sheet_help)
    sheet.add_argument("video", help="video or image file")
    sheet.add_argument("--out", required=True, help="PNG path")
    sheet.add_argument("--num-frames", type=int, default=None)
    sheet.add_argument("--frame-stride", type=int, default=1)
    sheet.add_argument("--columns", type=int, default=None, help="frames per grid row (default: all on one row)")
    sheet.set_defaults(_dataset_run=run_sheet)

    index = subparsers.add_parser(
        "index", help="index a manifest (row offsets + frames / height / width / fps, probing the files) for fast opening"
    )
    index.add_argument("manifest", help="CSV / TSV / JSONL manifest")
    index.set_defaults(_dataset_run=run_index)

    encode = subparsers.add_parser(
        "encode",
        help="write tokenizer latents (token ids for a discrete tokenizer) and text states of every sample, per bucket, "
        "as sharded safetensors; resumable; run it under torchrun to split the work",
    )
    encode.add_argument("manifest", help="CSV / TSV / JSONL manifest with video and caption columns")
    encode.add_argument("overrides", nargs="*", help="dot-list overrides of the config, right after MANIFEST (data.frame_stride=2)")
    encode.add_argument("--tokenizer", required=True, help="saved VideoTokenizer folder (save_pretrained)")
    encode.add_argument("--out", required=True, help="cache folder (train with data.source=cache data.cache=FOLDER)")
    encode.add_argument(
        "--config", default=None,
        help="a training YAML whose data: section (buckets, frame_stride, seed, random_start, or one num_frames/height/width) "
        "and task_options text_encoder / text_max_length are used",
    )
    encode.add_argument("--text-encoder", default=None, help="default: the config's, else all-MiniLM-L6-v2")
    encode.add_argument("--text-max-length", type=int, default=None, help="default: the config's, else 32")
    encode.add_argument("--shard-size", type=int, default=64, help="samples per shard")
    encode.add_argument("--batch-size", type=int, default=8, help="samples per tokenizer call")
    encode.add_argument("--num-workers", type=int, default=0, help="DataLoader processes decoding the files")
    encode.add_argument("--max-shards", type=int, default=None, help="stop after this many new shards (run again to continue)")
    encode.add_argument("--latent-dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    encode.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    encode.set_defaults(_dataset_run=run_encode)


def run(args) -> int:
    return args._dataset_run(args)


def run_synth(args) -> int:
    import json
    from pathlib import Path

    from tqdm import tqdm

    from genvid.data.synthetic import SyntheticVideoDataset, render_audio, render_clip_uint8
    from genvid.data.video_io import write_video
    from genvid.errors import GenvidError

    from genvid.commands.checks import check_options

    check_options(args, {"--num": {"minimum": 1}, "--seed": {}, "--num-frames": {"minimum": 1},
                         "--height": {"minimum": 8}, "--width": {"minimum": 8}, "--fps": {"above": 0, "maximum": 1000},
                         "--audio-sample-rate": {"minimum": 1000, "maximum": 192000}})
    if args.varied:
        from genvid.data.varied import write_varied_folder

        manifest_path = write_varied_folder(args.out, args.num, seed=args.seed, fps=args.fps)
        print(f"wrote {args.num} clips and images and {manifest_path}")
        return 0
    dataset = SyntheticVideoDataset(
        split=args.split, num_samples=args.num, num_frames=args.num_frames, height=args.height, width=args.width, seed=args.seed
    )
    out = Path(args.out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    digits = len(str(args.num - 1))
    with (out / "manifest.jsonl").open("w", encoding="utf-8") as manifest:
        for index in tqdm(range(args.num), desc="synthetic clips"):
            labels = dataset.labels(index)
            frames = render_clip_uint8(
                labels["color"], labels["shape"], labels["motion"],
                args.num_frames, args.height, args.width, seed=labels["clip_seed"],
            )
            name = f"videos/{index:0{digits}d}.mp4"
            audio = None
            if args.audio_sample_rate:
                audio = render_audio(
                    labels["color"], labels["shape"], labels["motion"],
                    args.num_frames, args.fps, args.audio_sample_rate, seed=labels["clip_seed"],
                )
            write_video(out / name, frames, fps=args.fps, audio=audio, sample_rate=args.audio_sample_rate or 16000)
            row = {"video": name, "caption": labels["caption"], "color": labels["color"],
                   "shape": labels["shape"], "motion": labels["motion"]}
            manifest.write(json.dumps(row) + "\n")
    print(f"wrote {args.num} clips and {out / 'manifest.jsonl'}")
    return 0


def run_check(args) -> int:
    from tqdm import tqdm

    from genvid.data.folder import read_manifest
    from genvid.data.video_io import read_frames
    from genvid.errors import GenvidError

    rows = read_manifest(args.manifest)
    if not rows:
        raise GenvidError(f"manifest {args.manifest} holds no rows")
    problems = []
    for row in tqdm(rows, desc="checking"):
        try:
            read_frames(row["video"])  # a full decode: a broken tail shows only there
        except GenvidError as error:
            problems.append(str(error))
    for problem in problems:
        print(problem)
    print(f"{len(rows) - len(problems)} of {len(rows)} files readable")
    return 1 if problems else 0


def run_sheet(args) -> int:
    from genvid.commands.checks import check_options, check_output_suffix
    from genvid.data.video_io import read_video, write_contact_sheet
    from genvid.errors import plural

    check_options(args, {"--num-frames": {"minimum": 1}, "--frame-stride": {"minimum": 1}, "--columns": {"minimum": 1}})
    check_output_suffix(args.out, "--out", (".png",))
    video = read_video(args.video, num_frames=args.num_frames, frame_stride=args.frame_stride)
    path = write_contact_sheet(args.out, video, columns=args.columns)
    print(f"wrote {path} ({plural(video.shape[1], 'frame')})")
    return 0


def run_index(args) -> int:
    import time

    from genvid.data.manifest import Manifest, sidecar_path

    begin = time.perf_counter()
    manifest = Manifest(args.manifest)
    if not len(manifest):
        from genvid.errors import GenvidError

        raise GenvidError(f"manifest {args.manifest} holds no rows")
    probed = manifest.probe_missing()
    manifest.save_sidecar()
    unknown = int((manifest.facts["num_frames"] < 0).sum())
    print(
        f"indexed {len(manifest)} rows of {args.manifest} in {time.perf_counter() - begin:.1f} s ({probed} files probed, "
        f"{unknown} unreadable) -> {sidecar_path(manifest.path)}"
    )
    return 0


def run_encode(args) -> int:
    from pathlib import Path

    from omegaconf import OmegaConf

    from genvid.commands.checks import check_options, resolve_device
    from genvid.commands.encode import tokenizer_folder
    from genvid.config import load_config
    from genvid.errors import GenvidError

    check_options(args, {"--shard-size": {"minimum": 1}, "--batch-size": {"minimum": 1},
                         "--num-workers": {"minimum": 0, "maximum": 256}, "--max-shards": {"minimum": 1},
                         "--text-max-length": {"minimum": 1, "maximum": 4096}})
    resolve_device(args.device)
    tokenizer_folder(args.tokenizer)
    if Path(args.out).exists() and not Path(args.out).is_dir():
        raise GenvidError(f"--out {args.out} is a file, expected a cache folder")
    if args.text_encoder:
        from genvid.text import resolve_text_encoder_path

        resolve_text_encoder_path(args.text_encoder)
    config = load_config(args.config, args.overrides)  # a base: chain merged, as genvid train reads it
    data = OmegaConf.to_container(config.get("data") or OmegaConf.create({}), resolve=True)
    for key in ("source", "manifest", "cache"):
        data.pop(key, None)
    options = config.get("task_options") or {}
    from genvid.training.encode_dataset import encode_dataset

    summary = encode_dataset(
        args.manifest,
        args.out,
        args.tokenizer,
        text_encoder=args.text_encoder or options.get("text_encoder") or "all-MiniLM-L6-v2",
        text_max_length=args.text_max_length or options.get("text_max_length") or 32,
        data=data,
        shard_size=args.shard_size,
        batch_size=args.batch_size,
        num_workers=args.num_workers,
        max_shards=args.max_shards,
        latent_dtype=args.latent_dtype,
        device=args.device,
    )
    if summary.get("finished"):
        print(f"cache {args.out}: {summary['num_samples']} samples in {summary['shards_total']} shards ({summary['num_skipped']} left out)")
    elif "missing" in summary:
        print(f"cache {args.out}: {summary['missing']} of {summary['shards_total']} shards still to write; run the same command again")
    return 0
