"""Equal-budget training: genvid's tokenizer vs diffusers' AutoencoderKLCogVideoX, from scratch.

Both start from random weights at 4x8x8 compression with 16 latent channels, train for the same
wall-clock budget on the same real clips in the same order (bundled photographs filmed by a
simulated camera, genvid.data.camera_motion), with the same loss (L1 + L2 + 1e-6 KL) and optimizer,
and are then scored on the fixed held-out real clips (PSNR, SSIM of the posterior mean). One JSON
line per model, then a comparison line.

The clock counts only training steps (forward, backward, optimizer); rendering the clips and the
evaluation are outside it. Each model trains in its own child process so that its peak memory is
its own: GPU ``torch.cuda.max_memory_allocated``; CPU the peak resident memory above the level
before training (sampled) and the whole process's ``ru_maxrss``.

Sizes (``--size``): "tiny" = configs/tokenizer/default_gaussian.yaml's model vs CogVideoX blocks
(16, 32, 32, 64), one layer each (CPU); "base" = configs/tokenizer/base_gaussian.yaml's model vs
CogVideoX blocks (64, 128, 256, 256), two layers each (GPU). Parameter counts are reported.

    python scripts/bench_tokenizer_budget.py --device cuda --budget-seconds 600             # 17x128x128
    OMP_NUM_THREADS=1 python scripts/bench_tokenizer_budget.py --device cpu --budget-seconds 180 \\
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

HELP = "equal wall-clock training budget: genvid's tokenizer vs AutoencoderKLCogVideoX (held-out PSNR/SSIM)"

GENVID_CONFIGS = {"tiny": "tokenizer/default_gaussian", "base": "tokenizer/base_gaussian"}  # shipped configs' names
COGVIDEOX_SIZES = {
    "tiny": dict(block_out_channels=(16, 32, 32, 64), layers_per_block=1, norm_num_groups=8),
    "base": dict(block_out_channels=(64, 128, 256, 256), layers_per_block=2, norm_num_groups=32),
}
MODELS = ("genvid", "cogvideox")
KL_WEIGHT = 1e-6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget-seconds", type=float, default=600.0, help="training wall-clock per model")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16"],
                        help="autocast dtype (default: bfloat16 on GPU, float32 on CPU)")
    parser.add_argument("--size", default=None, choices=sorted(COGVIDEOX_SIZES),
                        help="model sizes (default: base on GPU, tiny on CPU)")
    parser.add_argument("--num-frames", type=int, default=17)
    parser.add_argument("--crop", type=int, default=128, help="training and evaluation crop height = width")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--in-process", action="store_true", help="no child processes (memory figures then mix)")
    parser.add_argument("--output", default=None, help="also append the JSON lines to this file")


def build_genvid(size: str):
    from genvid.config import load_config, section
    from tokenizer import VideoTokenizer

    return VideoTokenizer(**section(load_config(GENVID_CONFIGS[size]), "model"))


def build_cogvideox(size: str):
    from diffusers import AutoencoderKLCogVideoX

    options = COGVIDEOX_SIZES[size]
    blocks = len(options["block_out_channels"])
    return AutoencoderKLCogVideoX(
        down_block_types=("CogVideoXDownBlock3D",) * blocks,
        up_block_types=("CogVideoXUpBlock3D",) * blocks,
        latent_channels=16,
        temporal_compression_ratio=4,
        **options,
    )


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
        if name == "genvid":
            from tokenizer import LossWeights, TokenizerTrainingModule

            self.tokenizer = build_genvid(size)
            self.module = TokenizerTrainingModule(self.tokenizer, None, LossWeights(l1=1.0, l2=1.0, kl=KL_WEIGHT))
        else:
            self.tokenizer = build_cogvideox(size)
            self.module = self.tokenizer
        self.module.to(device).train()
        self.parameters = sum(p.numel() for p in self.tokenizer.parameters())

    def loss(self, video, step, generator):
        if self.name == "genvid":
            return self.module(video, step=step, generator=generator)
        posterior = self.module.encode(video).latent_dist
        latents = posterior.mean + posterior.std * __import__("torch").randn(
            posterior.mean.shape, generator=generator, device=video.device, dtype=posterior.mean.dtype
        )
        reconstruction = self.module.decode(latents).sample
        kl = _kl_per_latent(posterior.mean, posterior.logvar)
        return _losses(reconstruction, video, kl)

    def reconstruct(self, video):
        if self.name == "genvid":
            return self.tokenizer.decode(self.tokenizer.encode(video))
        return self.tokenizer.decode(self.tokenizer.encode(video).latent_dist.mode()).sample


def train_one(args, name: str) -> dict:
    import torch
    from torch.utils.data import DataLoader

    from genvid.bench.tokenizer import _ResidentPeak
    from genvid.data import DataConfig, build_dataset, collate_videos
    from genvid.data.camera_motion import heldout_real_clips
    from genvid.eval.metrics import psnr, ssim

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
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
    steps, trained_seconds, last_loss = 0, 0.0, float("nan")
    with _ResidentPeak(interval=0.01) as resident:
        while trained_seconds < args.budget_seconds:
            video = next(batches)["video"].to(device)
            generator = torch.Generator(device=device).manual_seed(args.seed * 1_000_003 + steps)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            with torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32):
                loss, _ = trainer.loss(video, steps, generator)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainer.module.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            trained_seconds += time.perf_counter() - start
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


def _emit(record: dict, output: str | None) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    if output:
        with open(output, "a") as handle:
            handle.write(line + "\n")


def _child_argv(args, name: str) -> list[str]:
    argv = [sys.executable, "-m", "genvid.bench.tokenizer_budget", "--in-process", "--models", name]
    for key in ("budget_seconds", "device", "dtype", "size", "num_frames", "crop", "batch_size", "learning_rate", "seed"):
        value = getattr(args, key)
        if value is not None:
            argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


def run(args) -> int:
    import torch

    from genvid.errors import GenvidError

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    # CogVideoX's VAE encodes frames in groups of 8 after the first: it needs 1 + 8k frames
    if "cogvideox" in args.models and (args.num_frames - 1) % 8 != 0:
        raise GenvidError(f"--num-frames {args.num_frames}: AutoencoderKLCogVideoX needs 1 + 8k frames (9, 17, ...)")
    if args.crop % 8 != 0:
        raise GenvidError(f"--crop {args.crop}: must be a multiple of 8")
    records = {}
    for name in args.models:
        if args.in_process:
            record = train_one(args, name)
        else:
            completed = subprocess.run(_child_argv(args, name), capture_output=True, text=True)
            lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
            if completed.returncode != 0 or not lines:
                tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
                raise GenvidError(f"bench tokenizer_budget: the {name} run failed: {tail}")
            record = json.loads(lines[-1])
        records[name] = record
        _emit(record, args.output)
    if "genvid" in records and "cogvideox" in records:
        ours, peer = records["genvid"], records["cogvideox"]
        _emit({
            "bench": "tokenizer_budget", "comparison": "genvid_minus_cogvideox",
            "heldout_psnr_difference_db": round(ours["heldout_psnr"] - peer["heldout_psnr"], 3),
            "heldout_ssim_difference": round(ours["heldout_ssim"] - peer["heldout_ssim"], 4),
            "steps_ratio": round(ours["steps"] / max(peer["steps"], 1), 3),
            "peak_memory_ratio": round(ours["peak_memory_gb"] / max(peer["peak_memory_gb"], 1e-9), 3),
        }, args.output)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=HELP)
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except Exception as error:  # one line for a person, as the CLI does
        from genvid.errors import GenvidError

        if not isinstance(error, GenvidError):
            raise
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
