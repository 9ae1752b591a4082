"""Benchmark: the data path. One JSON line per figure, old and new timed side by side in one run.

- ``loader``: clips/s of a folder DataLoader on clips of mixed lengths, sizes and aspect ratios
  (genvid.data.varied), at 0 and ``--workers`` processes: the ffmpeg-binary path (one subprocess
  a read, every frame piped at full size, resized in torch) against in-process PyAV (seek, decode
  the span used, resized as frames leave the codec).
- ``train``: DiT and LM training steps/s with every sample decoded and encoded by the frozen
  tokenizer and text encoder (``raw``) against the same buckets read from a cache written by
  ``genvid dataset encode`` (``cache``). The in-memory encoding caches are off in ``raw``: on a
  real collection each clip comes back once an epoch, far beyond what memory keeps.
- ``manifest``: open time and memory of a 10^6-row manifest: every row parsed into memory (what
  ``read_manifest`` did) against :class:`genvid.data.manifest.Manifest` (first open, then with its
  sidecar index), each in a fresh process; memory is what the process holds after opening
  (resident + swapped).

Run: ``genvid bench data --device cpu`` (``--quick`` for a small smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from genvid.bench.report import Report

HELP = "data loader clips/s (ffmpeg binary vs PyAV), DiT/LM steps/s from a cache vs raw clips, manifest open time + memory"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="where the training steps run (default cpu)")
    parser.add_argument("--cases", default="loader,train,manifest", help="comma-separated: loader, train, manifest")
    parser.add_argument("--folder", default=None, help="a folder with manifest.jsonl to read (default: write varied clips)")
    parser.add_argument("--num-clips", type=int, default=24, help="varied clips written when --folder is not given")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader processes of the second loader case")
    parser.add_argument("--epochs", type=int, default=2, help="loader passes over the folder")
    parser.add_argument("--steps", type=int, default=12, help="timed training steps per case")
    parser.add_argument("--manifest-rows", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not a measurement")


# ---------------------------------------------------------------------------------------------- loader
def _loader_clips_per_second(manifest: Path, decoder: str, workers: int, epochs: int) -> float:
    import torch

    from genvid.data import FolderVideoDataset, collate_videos

    os.environ["GENVID_VIDEO_DECODER"] = decoder  # forked workers inherit it
    dataset = FolderVideoDataset(manifest, num_frames=17, height=64, width=64, frame_stride=1, random_start=True, media="video")
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=False, num_workers=workers, collate_fn=collate_videos,
                                         persistent_workers=workers > 0)
    for _ in loader:  # a first pass: workers started, files in the page cache
        pass
    begin, clips = time.perf_counter(), 0
    for _ in range(epochs):
        for batch in loader:
            clips += len(batch["video"])
    return clips / (time.perf_counter() - begin)


def bench_loader(lines: Report, folder: Path, args) -> None:
    manifest = folder / "manifest.jsonl"
    for workers in sorted({0, args.workers}):
        figures = {}
        for decoder, label in (("ffmpeg", "ffmpeg_binary"), ("av", "pyav")):
            lines.progress(f"loader: {label}, {workers} workers")
            figures[label] = _loader_clips_per_second(manifest, decoder, workers, args.epochs)
            lines.figure("loader", label, "17x64x64", "clips_per_second", figures[label], "clips/s", workers=workers)
        lines.compare("loader", "17x64x64", "clips_per_second", figures["pyav"], "ffmpeg_binary", figures["ffmpeg_binary"],
                      "clips/s", "higher", workers=workers)
    os.environ.pop("GENVID_VIDEO_DECODER", None)


# ---------------------------------------------------------------------------------------------- train
BUCKETS = {"shapes": [[1, 32, 32], [9, 32, 48], [9, 48, 32], [9, 32, 32]], "max_tokens": 192}
TOKENIZER = dict(latent_channels=6, base_channels=8, channel_multipliers=[1, 2, 2, 2], num_res_blocks=1, num_mid_blocks=1)


def _tokenizers(root: Path) -> dict[str, str]:
    import torch
    from tokenizer import VideoTokenizer

    paths = {}
    for name, extra in (("gaussian", {}), ("fsq", {"bottleneck": "fsq"})):
        torch.manual_seed(0)
        path = root / f"tokenizer_{name}"
        VideoTokenizer(**TOKENIZER, **extra).save_pretrained(path)
        paths[name] = str(path)
    return paths


def _train_config(task: str, tokenizer: str, data: dict, output: Path, steps: int, device: str):
    from omegaconf import OmegaConf

    if task == "dit":
        model = dict(in_channels=6, hidden_size=64, num_layers=2, num_heads=2, text_hidden_size=384)
        options = dict(tokenizer=tokenizer, latent_cache_size=0, text_cache_size=0)
    else:
        model = dict(hidden_size=64, num_layers=2, num_heads=2, max_sequence_length=512)
        options = dict(tokenizer=tokenizer, token_cache_size=0, text_cache_size=0, task_weights={"t2v": 1.0})
    return OmegaConf.create({
        "task": task, "model": model, "task_options": options, "data": data,
        "training": dict(output_dir=str(output), max_steps=steps, batch_size=2, learning_rate=1e-3, warmup_steps=0,
                         checkpoint_every=0, preview_every=0, report_to="none", log_every=1, export_on_finish=False,
                         seed=0),
    })


def _steps_per_second(config) -> float:
    """Steady-state steps/s of a run of the one loop: the time between its per-step log lines
    (``log_every=1``), the first two steps left out (set-up, first batches)."""
    from genvid.training import loop

    stamps = []
    write = loop.MetricsFile.write

    def stamped(self, record):
        stamps.append(time.perf_counter())
        return write(self, record)

    loop.MetricsFile.write = stamped
    try:
        loop.train(config)
    finally:
        loop.MetricsFile.write = write
    steady = stamps[2:]
    if len(steady) < 2:
        raise RuntimeError("too few steps to time: raise --steps")
    return (len(steady) - 1) / (steady[-1] - steady[0])


def bench_train(lines: Report, folder: Path, work: Path, args) -> None:
    from genvid.training.encode_dataset import encode_dataset

    tokenizers = _tokenizers(work)
    raw = {"source": "folder", "manifest": str(folder / "manifest.jsonl"), "buckets": BUCKETS, "frame_stride": 2}
    for task, kind in (("dit", "gaussian"), ("lm", "fsq")):
        lines.progress(f"train: encoding the folder for the {task}")
        cache = work / f"cache_{kind}"
        begin = time.perf_counter()
        encode_dataset(str(folder / "manifest.jsonl"), str(cache), tokenizers[kind], data={"buckets": BUCKETS, "frame_stride": 2},
                       shard_size=16, batch_size=4, device=args.device, progress=False)
        lines.figure("encode", "genvid", "varied", "samples_per_second", _count(cache) / (time.perf_counter() - begin), "samples/s",
                     task=task)
        figures = {}
        for source, data in (("raw", raw), ("cache", {"source": "cache", "cache": str(cache), "buckets": {"max_tokens": 192}})):
            lines.progress(f"train: {task} from {source}")
            config = _train_config(task, tokenizers[kind], data, work / f"run_{task}_{source}", args.steps, args.device)
            figures[source] = _steps_per_second(config)
            lines.figure(f"train_{task}", source, "buckets", "steps_per_second", figures[source], "steps/s")
        lines.compare(f"train_{task}", "buckets", "steps_per_second", figures["cache"], "raw", figures["raw"], "steps/s", "higher")
    lines.progress("train: LM at each bucket's length vs padded to the longest")
    bench_lm_padding(lines, args)


def bench_lm_padding(lines: Report, args) -> None:
    """Pack or pad: LM training steps at each bucket's own sequence length (one bucket a batch)
    against every batch padded to the longest bucket's length, weighted by how often each bucket
    is drawn; real (unpadded) tokens per second."""
    import torch

    from genvid.data.buckets import bucket_config, bucket_weights, make_buckets
    from genvid.models.ar_tasks import TASKS
    from genvid.models.lm import VideoLanguageModel
    from genvid.models.sequence import build_sequence

    buckets = make_buckets(bucket_config(BUCKETS))
    grids = [(1 + (b.frames - 1) // 4, b.height // 8, b.width // 8) for b in buckets]
    weights = bucket_weights(buckets, torch.ones(len(buckets)).numpy(), None)
    torch.manual_seed(0)
    model = VideoLanguageModel(codebook_size=256, hidden_size=64, num_layers=2, num_heads=2, max_sequence_length=1024)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    task, text_length = TASKS["t2v"], 32
    longest = max(grids, key=lambda grid: grid[0] * grid[1] * grid[2])

    def step_seconds(grid, batch_size, repeats):
        ids = torch.randint(32, 288, (batch_size, *grid))
        example = task.example(ids)
        sequence = build_sequence(task, batch_size, text_length, example.condition_ids, example.target_ids)
        text, mask = torch.randn(batch_size, text_length, 384), torch.ones(batch_size, text_length, dtype=torch.bool)
        begin = time.perf_counter()
        for _ in range(repeats):
            logits = model(sequence.input_ids, text, mask, sequence.prefix_length, num_logits=sequence.target_ids.shape[1] + 1)
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), sequence.target_ids.flatten())
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        return (time.perf_counter() - begin) / repeats

    repeats = 2 if args.quick else 6
    tokens = own = padded = 0.0
    for bucket, grid, weight in zip(buckets, grids, weights):
        step_seconds(grid, bucket.batch_size, 1)  # warm-up
        tokens += weight * bucket.batch_size * grid[0] * grid[1] * grid[2]
        own += weight * step_seconds(grid, bucket.batch_size, repeats)
        padded += weight * step_seconds(longest, bucket.batch_size, repeats)
    lines.figure("lm_padding", "per_bucket_length", "buckets", "tokens_per_second", tokens / own, "tokens/s")
    lines.figure("lm_padding", "padded_to_longest", "buckets", "tokens_per_second", tokens / padded, "tokens/s")
    lines.compare("lm_padding", "buckets", "tokens_per_second", tokens / own, "padded_to_longest", tokens / padded, "tokens/s", "higher")


def _count(cache: Path) -> int:
    return json.loads((cache / "index.json").read_text())["num_samples"]


# ---------------------------------------------------------------------------------------------- manifest
_OPEN_SCRIPT = r"""
import json, sys, time
from pathlib import Path


def held_bytes():
    # resident + swapped: what the process holds, whatever the machine's memory pressure
    fields = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
    return sum(int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "VmSwap") if name in fields)


path, mode = Path(sys.argv[1]), sys.argv[2]
if mode != "in_memory":
    from genvid.data.manifest import Manifest  # imports (torch) are not the manifest's cost
before = held_bytes()
begin = time.perf_counter()
if mode == "in_memory":
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                row["video"] = str(path.parent / row["video"])
                rows.append(row)
    count, sample = len(rows), rows[len(rows) // 2]["caption"]
else:
    manifest = Manifest(path)
    count, sample = len(manifest), manifest[len(manifest) // 2]["caption"]
seconds = time.perf_counter() - begin
print(json.dumps({"seconds": seconds, "bytes": held_bytes() - before, "rows": count}))
"""


def _write_big_manifest(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for index in range(rows):
            handle.write(json.dumps({"video": f"clips/{index:07d}.mp4", "caption": f"a clip of scene {index % 977}, take {index}",
                                     "num_frames": 17 + index % 64, "height": 360, "width": 640, "fps": 24}) + "\n")


def _open_in_fresh_process(path: Path, mode: str) -> dict:
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-c", _OPEN_SCRIPT, str(path), mode], capture_output=True, text=True, env=environment)
    if result.returncode:
        raise RuntimeError(result.stderr.strip().splitlines()[-1])
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_manifest(lines: Report, work: Path, args) -> None:
    from genvid.data.manifest import sidecar_path

    path = work / "big.jsonl"
    lines.progress(f"manifest: writing {args.manifest_rows} rows")
    _write_big_manifest(path, args.manifest_rows)
    shape = f"{args.manifest_rows}rows"
    old = _open_in_fresh_process(path, "in_memory")
    first = _open_in_fresh_process(path, "manifest")
    if not sidecar_path(path).is_file():
        from genvid.data.manifest import Manifest

        Manifest(path).save_sidecar()  # below SIDECAR_MIN_ROWS (a --quick run): keep it anyway
    again = _open_in_fresh_process(path, "manifest")
    for label, figure in (("in_memory_rows", old), ("manifest_first_open", first), ("manifest_with_index", again)):
        lines.figure("manifest", label, shape, "open_seconds", figure["seconds"], "s")
        lines.figure("manifest", label, shape, "memory_mb", figure["bytes"] / 2**20, "MiB")
    lines.compare("manifest", shape, "open_seconds", again["seconds"], "in_memory_rows", old["seconds"], "s", "lower")
    lines.compare("manifest", shape, "memory_mb", again["bytes"] / 2**20, "in_memory_rows", max(old["bytes"], 1) / 2**20, "MiB", "lower")


def run(args) -> int:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.num_clips, args.epochs, args.steps, args.manifest_rows = min(args.num_clips, 8), 1, min(args.steps, 4), min(args.manifest_rows, 20_000)
    cases = [case.strip() for case in args.cases.split(",") if case.strip()]
    unknown = [case for case in cases if case not in ("loader", "train", "manifest")]
    if unknown:
        from genvid.errors import GenvidError

        raise GenvidError(f"--cases: unknown case {unknown[0]!r}; cases are loader, train, manifest")
    lines = Report("data", args.device, "float32")
    with tempfile.TemporaryDirectory(prefix="genvid_bench_data_") as temporary:
        work = Path(temporary)
        folder = Path(args.folder) if args.folder else None
        if folder is None and ("loader" in cases or "train" in cases):
            from genvid.data.varied import write_varied_folder

            lines.progress(f"writing {args.num_clips} varied clips")
            write_varied_folder(work / "clips", args.num_clips)
            folder = work / "clips"
        if "loader" in cases:
            bench_loader(lines, folder, args)
        if "train" in cases:
            bench_train(lines, folder, work, args)
        if "manifest" in cases:
            bench_manifest(lines, work, args)
    return 0
