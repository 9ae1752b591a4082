"""Equal-budget training: genvid's tokenizer vs diffusers' AutoencoderKLCogVideoX, from scratch.

Both start from random weights at 4x8x8 compression with 16 latent channels, train for the same
wall-clock budget on the same real clips in the same order (bundled photographs filmed by a
simulated camera, genvid.data.camera_motion), with the same loss (L1 + L2 + 1e-6 KL) and optimizer,
and are then scored on the fixed held-out real clips (PSNR, SSIM of the posterior mean). Lines in
the layout of :mod:`genvid.bench.report`: each model's figures, then genvid beside CogVideoX
(differences for PSNR and SSIM, ratios for the rest). ``--preset small`` (the CPU default) runs in
under a minute and only shows the bench works; the comparison needs minutes of budget (below).

The clock counts only training steps (forward, backward, optimizer); rendering the clips and the
evaluation are outside it. Each model trains in its own child process so that its peak memory is
its own: GPU ``torch.cuda.max_memory_allocated``; CPU the peak resident memory above the level
before training (sampled) and the whole process's ``ru_maxrss``.

Sizes (``--size``): "tiny" = configs/tokenizer/default_gaussian.yaml's model vs CogVideoX blocks
(16, 32, 32, 64), one layer each (CPU); "base" = configs/tokenizer/base_gaussian.yaml's model vs
CogVideoX blocks (64, 128, 256, 256), two layers each (GPU). Parameter counts are reported.

    genvid bench tokenizer-budget --device cuda --preset full                      # 600 s, 17x128x128
    OMP_NUM_THREADS=1 genvid bench tokenizer-budget --device cpu --budget-seconds 180 \\
        --num-frames 9 --crop 64 --batch-size 2 --size tiny
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

from genvid.bench import add_machine_arguments, machine, standalone_main

HELP = "equal wall-clock training budget: genvid's tokenizer vs AutoencoderKLCogVideoX (held-out PSNR/SSIM)"

#: the preset a GPU runs unless told
GPU_PRESET = "full"

GENVID_CONFIGS = {"tiny": "tokenizer/default_gaussian", "base": "tokenizer/base_gaussian"}  # shipped configs' names
MODELS = ("genvid", "genvid_haar", "cogvideox")
#: the "genvid" arm is the config's network without a Haar stage, the "genvid_haar" arm the same
#: network behind one level of Haar input / output stage (tokenizer.wavelet), its full-resolution
#: stage dropped so the compression stays 4x8x8 (the shipped default_gaussian has the Haar stage)
HAAR_OVERRIDES = {"wavelet_levels": 1}
KL_WEIGHT = 1e-6
#: what each preset sets unless given: ``small`` (the CPU default) finishes in under a minute and
#: only shows the bench works (seconds of training say nothing about the architectures); ``full``
#: (the GPU default) is the comparison
PRESETS = {
    "small": dict(budget_seconds=3.0, num_frames=9, crop=32, batch_size=1, size="tiny"),
    "full": dict(budget_seconds=600.0, num_frames=17, crop=128, batch_size=4, size=None),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_machine_arguments(parser, PRESETS, GPU_PRESET, "budget, clip and sizes unless given",
                          dtypes=("float32", "bfloat16"), dtype_help="autocast dtype ")
    parser.add_argument("--budget-seconds", type=float, default=None, help="training wall-clock per model (full: 600)")
    parser.add_argument("--size", default=None, choices=sorted(GENVID_CONFIGS),
                        help="model sizes (default: base on GPU, tiny on CPU)")
    parser.add_argument("--num-frames", type=int, default=None, help="frames per clip (full: 17)")
    parser.add_argument("--crop", type=int, default=None, help="training and evaluation crop height = width (full: 128)")
    parser.add_argument("--batch-size", type=int, default=None, help="(full: 4)")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--in-process", action="store_true", help="no child processes (memory figures then mix)")
    parser.add_argument("--output", default=None, help="also append the JSON lines to this file")
    parser.add_argument("--record-file", default=None, help=argparse.SUPPRESS)  # a child's record, for its parent


def build_genvid(size: str, wavelet: bool = False):
    from genvid.config import load_config, section
    from tokenizer import VideoTokenizer

    options = dict(section(load_config(GENVID_CONFIGS[size]), "model"))
    multipliers = list(options["channel_multipliers"])
    if options.get("wavelet_levels", 0):  # back to the plain network: its full-resolution stage first
        options.update(wavelet_levels=0, channel_multipliers=[max(multipliers[0] // 2, 1), *multipliers])
        multipliers = list(options["channel_multipliers"])
    if wavelet:
        options.update(HAAR_OVERRIDES, channel_multipliers=multipliers[1:])
    return VideoTokenizer(**options)


def _losses(reconstruction, video, kl):
    import torch.nn.functional as F

    l1 = F.l1_loss(reconstruction.float(), video)
    l2 = F.mse_loss(reconstruction.float(), video)
    return l1 + l2 + KL_WEIGHT * kl, {"l1": float(l1.detach()), "l2": float(l2.detach())}


def _kl_per_latent(mean, logvar):
    # as genvid's Gaussian bottleneck does: KL to N(0, 1), mean over every latent value
    return 0.5 * (mean.float().pow(2) + logvar.float().exp() - 1 - logvar.float()).mean()


class _Trainer:
    """One model's training step and reconstruction, behind one interface."""

    def __init__(self, name: str, size: str, device, seed: int):
        import torch

        torch.manual_seed(seed)
        self.name = name
        if name.startswith("genvid"):
            from tokenizer import LossWeights, TokenizerTrainingModule

            self.tokenizer = build_genvid(size, wavelet=name == "genvid_haar")
            self.module = TokenizerTrainingModule(self.tokenizer, None, LossWeights(l1=1.0, l2=1.0, kl=KL_WEIGHT))
        else:
            from genvid.bench.tokenizer import cogvideox_autoencoder

            self.tokenizer = cogvideox_autoencoder(size)
            self.module = self.tokenizer
        self.module.to(device).train()
        self.parameters = sum(p.numel() for p in self.tokenizer.parameters())

    def loss(self, video, step, generator):
        if self.name.startswith("genvid"):
            return self.module(video, step=step, generator=generator)
        posterior = self.module.encode(video).latent_dist
        latents = posterior.mean + posterior.std * __import__("torch").randn(
            posterior.mean.shape, generator=generator, device=video.device, dtype=posterior.mean.dtype
        )
        reconstruction = self.module.decode(latents).sample
        kl = _kl_per_latent(posterior.mean, posterior.logvar)
        return _losses(reconstruction, video, kl)

    def reconstruct(self, video):
        if self.name.startswith("genvid"):
            return self.tokenizer.decode(self.tokenizer.encode(video))
        return self.tokenizer.decode(self.tokenizer.encode(video).latent_dist.mode()).sample


def train_one(args, name: str) -> dict:
    import torch
    from torch.utils.data import DataLoader

    from genvid.bench.tokenizer import _ResidentPeak
    from genvid.data import DataConfig, build_dataset, collate_videos
    from genvid.data.camera_motion import heldout_real_clips
    from genvid.eval.metrics import psnr, ssim

    device, dtype, _ = machine(args)
    size = args.size or ("base" if device.type == "cuda" else "tiny")
    trainer = _Trainer(name, size, device, args.seed)
    optimizer = torch.optim.AdamW([p for p in trainer.module.parameters() if p.requires_grad], lr=args.learning_rate)
    # the same clips in the same order for both models: the dataset is deterministic in (seed, index)
    dataset = build_dataset(DataConfig(
        source="real_images", split="train", num_samples=1_000_000, num_frames=args.num_frames,
        height=args.crop, width=args.crop, seed=args.seed,
    ))
    batches = iter(DataLoader(dataset, batch_size=args.batch_size, collate_fn=collate_videos))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    # on a CPU the budget is the process's CPU seconds (a shared machine's load does not shrink
    # one arm's budget, and the arms can then train side by side); on a GPU, wall-clock seconds
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    steps, trained_seconds, last_loss = 0, 0.0, float("nan")
    with _ResidentPeak(interval=0.01) as resident:
        while trained_seconds < args.budget_seconds:
            video = next(batches)["video"].to(device)
            generator = torch.Generator(device=device).manual_seed(args.seed * 1_000_003 + steps)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = clock()
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                loss, _ = trainer.loss(video, steps, generator)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainer.module.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            trained_seconds += clock() - start
            steps += 1
            last_loss = float(loss.detach())
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else resident.used

    trainer.module.eval()
    scores = []
    with torch.no_grad():
        for _, clip in heldout_real_clips(args.num_frames, args.crop, args.crop, seed=args.seed):
            batch = clip[None].to(device)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                reconstruction = trainer.reconstruct(batch)
            reconstruction = reconstruction.float().clamp(-1, 1).cpu()[0]
            scores.append((float(psnr(reconstruction, clip)), float(ssim(reconstruction, clip))))
    record = {
        "bench": "tokenizer_budget",
        "model": name,
        "size": size,
        "parameters_millions": round(trainer.parameters / 1e6, 3),
        "device": device.type,
        "dtype": str(dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(),
        "clip": f"{args.batch_size}x3x{args.num_frames}x{args.crop}x{args.crop}",
        "budget_seconds": args.budget_seconds,
        "budget_clock": "wall" if device.type == "cuda" else "process_cpu",
        "trained_seconds": round(trained_seconds, 1),
        "steps": steps,
        "samples_per_second": round(steps * args.batch_size / max(trained_seconds, 1e-9), 3),
        "final_train_loss": round(last_loss, 4),
        "heldout_clips": len(scores),
        "heldout_psnr": round(sum(s[0] for s in scores) / len(scores), 3),
        "heldout_ssim": round(sum(s[1] for s in scores) / len(scores), 4),
        "peak_memory_gb": round(peak / 2**30, 3),
    }
    if device.type != "cuda":
        record["process_max_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3)
    return record


def _cell_mean_record(args) -> dict:
    """The no-learning baseline on the same held-out clips: each 4x8x8 cell's mean colour."""
    from genvid.data.camera_motion import heldout_real_clips
    from genvid.eval.metrics import psnr, ssim
    from tokenizer.layers import cell_mean_picture

    scores = []
    for _, clip in heldout_real_clips(args.num_frames, args.crop, args.crop, seed=args.seed):
        picture = cell_mean_picture(clip[None])[0]
        scores.append((float(psnr(picture, clip)), float(ssim(picture, clip))))
    return {
        "model": "cell_mean", "size": "none", "parameters_millions": 0.0,
        "clip": f"{args.batch_size}x3x{args.num_frames}x{args.crop}x{args.crop}",
        "budget_seconds": 0.0, "heldout_clips": len(scores),
        "heldout_psnr": round(sum(s[0] for s in scores) / len(scores), 3),
        "heldout_ssim": round(sum(s[1] for s in scores) / len(scores), 4),
    }


#: (metric, unit, better) of each model's record, as report lines
FIGURES = (
    ("heldout_psnr", "dB", "higher"), ("heldout_ssim", "ssim", "higher"), ("steps", "steps", "higher"),
    ("samples_per_second", "samples/s", "higher"), ("final_train_loss", "loss", "lower"),
    ("peak_memory_gb", "GB", "lower"),
)


def _child_argv(args, name: str, record_file: str) -> list[str]:
    argv = [sys.executable, "-m", "genvid.bench.tokenizer_budget", "--in-process", "--models", name,
            "--record-file", record_file]
    for key in ("budget_seconds", "device", "dtype", "size", "num_frames", "crop", "batch_size", "learning_rate", "seed"):
        value = getattr(args, key)
        if value is not None:
            argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


def _train_in_children(args, names: list[str]) -> dict[str, dict]:
    """One child process per model; on a CPU (a CPU-time budget) they train at the same time."""
    import tempfile

    from genvid.errors import GenvidError

    records = {}
    with tempfile.TemporaryDirectory() as folder:
        def start(name):
            record_file = os.path.join(folder, f"{name}.json")
            process = subprocess.Popen(_child_argv(args, name, record_file), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, text=True)
            return name, record_file, process

        def finish(name, record_file, process):
            _, errors = process.communicate()
            if process.returncode != 0 or not os.path.isfile(record_file):
                tail = (errors.strip().splitlines() or ["no output"])[-1]
                raise GenvidError(f"bench tokenizer-budget: the {name} run failed: {tail}")
            with open(record_file) as handle:
                records[name] = json.load(handle)

        if args.side_by_side:
            for running in [start(name) for name in names]:
                finish(*running)
        else:
            for name in names:
                finish(*start(name))
    return records


def run(args) -> int:
    import torch

    from genvid.bench.report import Report
    from genvid.errors import GenvidError

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    device, dtype, preset = machine(args, GPU_PRESET)
    on_cuda = device.type == "cuda"
    for key, value in PRESETS[preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    # CogVideoX's VAE encodes frames in groups of 8 after the first: it needs 1 + 8k frames
    if "cogvideox" in args.models and (args.num_frames - 1) % 8 != 0:
        raise GenvidError(f"--num-frames {args.num_frames}: AutoencoderKLCogVideoX needs 1 + 8k frames (9, 17, ...)")
    if args.crop % 8 != 0:
        raise GenvidError(f"--crop {args.crop}: must be a multiple of 8")
    if args.record_file:  # a child of the run below: one model, its record to the parent
        with open(args.record_file, "w") as handle:
            json.dump(train_one(args, args.models[0]), handle)
        return 0
    report = Report("tokenizer_budget", "cuda" if on_cuda else "cpu", dtype, output=args.output)
    args.side_by_side = not on_cuda and not args.in_process
    clock = "wall-clock" if on_cuda else "CPU"
    report.progress(f"{', '.join(args.models)}: training for {args.budget_seconds:g} {clock} s each"
                    f"{' side by side' if args.side_by_side else ''}, then the held-out clips")
    if args.in_process:
        records = {name: train_one(args, name) for name in args.models}
    else:
        records = _train_in_children(args, args.models)
    records["cell_mean"] = _cell_mean_record(args)
    for name in [*args.models, "cell_mean"]:
        record = records[name]
        for metric, unit, _ in FIGURES:
            if metric not in record:
                continue
            report.figure("train_budget", name, record["clip"], metric, record[metric], unit,
                          budget_seconds=record["budget_seconds"], size=record["size"],
                          parameters_m=record["parameters_millions"], heldout_clips=record["heldout_clips"])
    for ours_name, peer_name in (("genvid", "cogvideox"), ("genvid_haar", "cogvideox"), ("genvid_haar", "genvid")):
        if ours_name in records and peer_name in records:
            ours, peer = records[ours_name], records[peer_name]
            for metric, unit, better in FIGURES:
                report.compare("train_budget", ours["clip"], metric, ours[metric], peer_name, peer[metric], unit,
                               better=better, difference=metric.startswith("heldout_"), arm=ours_name)
    return 0


def main(argv: list[str] | None = None) -> int:
    return standalone_main(__name__, argv)


if __name__ == "__main__":
    sys.exit(main())
