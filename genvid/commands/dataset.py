"""genvid dataset {synth,check,sheet} ..."""

HELP = "datasets: render the synthetic captioned set to disk, check a manifest, view a video as a PNG grid"


def add_arguments(parser) -> None:
    subparsers = parser.add_subparsers(dest="dataset_command", metavar="WHAT", required=True)

    synth = subparsers.add_parser(
        "synth", help="write synthetic clips (mp4) and manifest.jsonl (video, caption, color, shape, motion)"
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
    synth.set_defaults(_dataset_run=run_synth)

    check = subparsers.add_parser("check", help="decode every file of a manifest and list the unreadable ones")
    check.add_argument("manifest", help="CSV or JSONL manifest with video and caption columns")
    check.set_defaults(_dataset_run=run_check)

    sheet = subparsers.add_parser("sheet", help="write a video's frames as a PNG contact sheet")
    sheet.add_argument("video", help="video or image file")
    sheet.add_argument("--out", required=True, help="PNG path")
    sheet.add_argument("--num-frames", type=int, default=None)
    sheet.add_argument("--frame-stride", type=int, default=1)
    sheet.add_argument("--columns", type=int, default=None, help="frames per grid row (default: all on one row)")
    sheet.set_defaults(_dataset_run=run_sheet)


def run(args) -> int:
    return args._dataset_run(args)


def run_synth(args) -> int:
    import json
    from pathlib import Path

    from tqdm import tqdm

    from genvid.data.synthetic import SyntheticVideoDataset, render_audio, render_clip_uint8
    from genvid.data.video_io import write_video
    from genvid.errors import GenvidError

    if args.num < 1:
        raise GenvidError(f"--num must be >= 1, got {args.num}")
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
    from genvid.data.video_io import read_video, write_contact_sheet

    video = read_video(args.video, num_frames=args.num_frames, frame_stride=args.frame_stride)
    path = write_contact_sheet(args.out, video, columns=args.columns)
    print(f"wrote {path} ({video.shape[1]} frames)")
    return 0
