"""``genvid bench dit``: step time and model FLOP utilisation of genvid's VideoDiffusionTransformer
beside diffusers' CogVideoXTransformer3DModel at equal size, same shapes, same run.

Presets:

* ``cogvideox-2b`` (default on GPU): CogVideoX-2B's transformer (1.69B) and a genvid DiT of the
  same size (hidden 1920, 30 heads, 28 layers: 1.70B), 13 x 60 x 90 latents (16 channels, what
  CogVideoX's VAE gives for 49 x 480 x 720) with 226 text tokens of width 4096. Patch 1x2x2 on both:
  17,550 video tokens.
* ``small`` (default on CPU): hidden 256, 4 heads, 4 layers each, 5 x 16 x 16 latents, 32 text tokens
  (well under a minute on a CPU).
* ``50m``: hidden 512, 8 heads; genvid 11 layers (49.9M parameters), CogVideoX 12 layers (47.9M:
  its joint attention has no cross-attention weights), 5 x 28 x 28 latents (980 video tokens) and 64
  text tokens.

The two models are built first and then timed in turn (genvid, CogVideoX, genvid, ...; the median
of ``--repeats``), so that a machine whose load drifts slows both arms alike.

FLOPs count every matmul (2 m n k) and attention (4 queries keys d a layer): genvid's from
:func:`genvid.models.dit.forward_flops` (self- plus cross-attention); CogVideoX's the same way over
its joint text + video sequence, leaving out its per-sample AdaLN linears. For comparison with the
reference peer table, CogVideoX's lines also carry ``mfu_reference_count``: that run's convention,
``2 N (video + text tokens) + 4 L (video + text tokens)^2 d`` with N all parameters. A training
step is 3x the forward. MFU = FLOPs / time / the device's peak (known GPUs' dense bf16 peaks, or
``--peak-tflops``; none on a CPU). Training steps run
bf16 autocast + AdamW (fused on CUDA) with gradient checkpointing on both models, as the reference
peer run did. Each figure is one JSON line in the layout of :mod:`genvid.bench.report`;
comparison lines (genvid / CogVideoX step time) follow. On CPU the times are noisy: compare the ratios;
every CPU line also carries ``cpu_s``, the process CPU time per call, and comparison lines its
``cpu_ratio``, which a machine shared with other jobs disturbs less than the wall clock.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Callable

from genvid.bench import add_machine_arguments, machine, parse_size, standalone_main
from genvid.bench.report import significant

HELP = "DiT step time and MFU vs CogVideoXTransformer3DModel"

#: the preset a GPU runs unless told
GPU_PRESET = "cogvideox-2b"

def _matched_preset(hidden_size: int, num_layers: int, num_heads: int, latents: str, text_length: int,
                    peer_layers: int | None = None) -> dict:
    """A preset whose CogVideoX peer has genvid's width, heads, text width and latent grid (CogVideoX's
    ``sample_*`` in latent units, its frames ``1 + 4 (T - 1)``); ``peer_layers`` evens out the
    parameter count where the two blocks differ in size."""
    frames, height, width = parse_size(latents, "latents", "TxHxW")
    return dict(
        genvid=dict(in_channels=16, hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads,
                    text_hidden_size=hidden_size),
        peer=dict(
            num_attention_heads=num_heads, attention_head_dim=hidden_size // num_heads,
            num_layers=peer_layers or num_layers, text_embed_dim=hidden_size, time_embed_dim=128,
            max_text_seq_length=text_length, sample_frames=1 + 4 * (frames - 1), sample_height=height,
            sample_width=width,
        ),
        latents=latents,
        text_length=text_length,
    )


PRESETS = {
    "cogvideox-2b": dict(
        genvid=dict(in_channels=16, hidden_size=1920, num_layers=28, num_heads=30, text_hidden_size=4096),
        peer=dict(),  # diffusers' defaults are CogVideoX-2B
        latents="13x60x90",
        text_length=226,
    ),
    "small": _matched_preset(256, num_layers=4, num_heads=4, latents="5x16x16", text_length=32),
    "50m": _matched_preset(512, num_layers=11, num_heads=8, latents="5x28x28", text_length=64, peer_layers=12),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_machine_arguments(parser, PRESETS, GPU_PRESET, dtype_help="forward dtype; training uses autocast to it ")
    parser.add_argument("--latents", default=None, help="latent grid TxHxW (default: the preset's)")
    parser.add_argument("--text-length", type=int, default=None, help="text tokens (default: the preset's)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (the median is reported)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="device peak for MFU (default: the known bf16/fp16 peak of the GPU; no MFU on a CPU)")
    parser.add_argument("--no-peer", action="store_true", help="time genvid only")
    parser.add_argument("--no-train", action="store_true", help="forward only")
    parser.add_argument("--no-gradient-checkpointing", action="store_true", help="training steps without checkpointing")
    parser.add_argument("--compile", action="store_true", help="torch.compile genvid's blocks (CUDA)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads (default: torch's); 1 is steadier on a machine shared with other jobs")


def _synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _measure(arms: dict[str, Callable[[], object]], device, warmup: int, repeats: int) -> dict[str, float]:
    """Median seconds per call of each arm, the arms timed in turn; on a CPU also ``<name>_cpu_s``,
    its median process CPU time; on CUDA ``<name>_peak_gb``, the peak memory of one arm's calls
    (measured apart: the allocator's peak is not per arm)."""
    import torch

    from genvid.bench.report import time_interleaved

    cpu_seconds = {}
    results = time_interleaved(arms, warmup, repeats, lambda: _synchronize(device), cpu_seconds)
    if device.type == "cpu":
        results.update({f"{name}_cpu_s": seconds for name, seconds in cpu_seconds.items()})
    if device.type == "cuda":
        for name, function in arms.items():
            gc.collect()
            torch.cuda.reset_peak_memory_stats()
            function()
            _synchronize(device)
            results[f"{name}_peak_gb"] = torch.cuda.max_memory_allocated() / 2**30
    return results


class _Case:
    """One model with its inputs: ``forward()``, ``train_step()``, parameter count, FLOPs."""

    def __init__(self, name, model, forward, loss, parameters, forward_flops):
        self.name, self.model, self.forward, self.loss = name, model, forward, loss
        self.parameters, self.forward_flops = parameters, forward_flops
        self.reference_flops = None

    def reference_mfu(self, multiple: float, seconds: float, peak: float | None) -> dict:
        if self.reference_flops is None or not peak:
            return {}
        return {"mfu_reference_count": significant(multiple * self.reference_flops / seconds / peak, 3)}


def _genvid_case(config, grid, text_length, batch, device, dtype):
    import torch

    from genvid.models.dit import VideoDiffusionTransformer, forward_flops

    model = VideoDiffusionTransformer(**config).to(device)
    frames, height, width = grid
    latents = torch.randn(batch, config["in_channels"], frames, height, width, device=device)
    text = torch.randn(batch, text_length, config["text_hidden_size"], device=device)
    mask = torch.ones(batch, text_length, dtype=torch.bool, device=device)
    timestep = torch.full((batch,), 500.0, device=device)

    weight = model.patch_embedding.weight  # its dtype: ModelMixin.dtype walks every module on each call

    def forward():
        return model(latents.to(weight.dtype), timestep, text.to(weight.dtype), mask).sample

    def loss():
        return (forward().float() - latents).square().mean()

    parameters = sum(p.numel() for p in model.parameters())
    flops = batch * forward_flops(config, frames, height, width, text_length)
    return _Case("genvid", model, forward, loss, parameters, flops)


def _peer_case(config, grid, text_length, batch, device, dtype):
    import torch
    from diffusers import CogVideoXTransformer3DModel

    model = CogVideoXTransformer3DModel(**config).to(device)
    frames, height, width = grid
    in_channels = model.config.in_channels
    hidden = model.config.num_attention_heads * model.config.attention_head_dim
    latents = torch.randn(batch, frames, in_channels, height, width, device=device)  # CogVideoX: B T C H W
    text = torch.randn(batch, text_length, model.config.text_embed_dim, device=device)
    timestep = torch.full((batch,), 500, device=device, dtype=torch.long)

    weight = model.patch_embed.proj.weight

    def forward():
        # Inputs in the weights' dtype (bf16 forward); float32 under autocast for training.
        return model(hidden_states=latents.to(weight.dtype), encoder_hidden_states=text.to(weight.dtype),
                     timestep=timestep).sample

    def loss():
        return (forward().float() - latents).square().mean()

    parameters = sum(p.numel() for p in model.parameters())
    patch = model.config.patch_size
    video_tokens = frames * (height // patch) * (width // patch)
    tokens = video_tokens + text_length  # joint attention: every block runs on text and video tokens
    attention_flops = model.config.num_layers * 4 * tokens * tokens * hidden

    def weights(prefixes):
        return sum(p.numel() for name, p in model.named_parameters()
                   if name.endswith("weight") and any(part in name for part in prefixes))

    # The AdaLN linears (21% of CogVideoX-2B's parameters) act once per sample on the timestep
    # embedding, not per token, so they are not multiplied by the token count.
    flops = 2 * (weights([".attn1.to_", ".ff."]) * tokens + weights(["patch_embed.proj", "proj_out"]) * video_tokens
                 + weights(["patch_embed.text_proj"]) * text_length) + attention_flops
    case = _Case("cogvideox", model, forward, loss, parameters, batch * flops)
    # The convention of the reference peer run (bench/dit_train_gpu.py): 2 N per token, all parameters.
    case.reference_flops = batch * (2 * parameters * tokens + attention_flops)
    return case


def _forward_arm(case: _Case, dtype):
    import torch

    torch.nn.Module.to(case.model, dtype=dtype).eval()  # nn.Module.to: ModelMixin.to warns about fp32-kept modules

    def forward():
        with torch.no_grad():
            case.forward()

    return forward


def _train_arm(case: _Case, args, device, dtype):
    import torch

    model = case.model
    torch.nn.Module.to(model, dtype=torch.float32).train()
    if not args.no_gradient_checkpointing:
        model.enable_gradient_checkpointing()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=device.type == "cuda")
    autocast = dtype != torch.float32

    def train_step():
        with torch.autocast(device.type, dtype=dtype, enabled=autocast):
            loss = case.loss()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return train_step


def _cpu_field(results: dict, name: str) -> dict:
    seconds = results.get(f"{name}_cpu_s")
    return {} if seconds is None else {"cpu_s": significant(seconds)}


def _time_cases(cases: list[_Case], args, device, dtype, report, shape: str, peak: float | None) -> dict:
    """Forward (then training) step times of every case, timed in turn; one line per case and kind."""
    import torch

    names = " and ".join(case.name for case in cases)
    report.progress(f"{names}: forward, in turn ({args.warmup} warm-up, {args.repeats} timed each)")
    forward = _measure({case.name: _forward_arm(case, dtype) for case in cases}, device, args.warmup, args.repeats)
    train = {}
    if not args.no_train:
        report.progress(f"{names}: training step, in turn (AdamW, gradient checkpointing "
                        f"{not args.no_gradient_checkpointing})")
        arms = {case.name: _train_arm(case, args, device, dtype) for case in cases}
        train = _measure(arms, device, max(args.warmup, 1), args.repeats)
        del arms
        gc.collect()
    seconds_of = {}
    for case in cases:
        name = case.name
        extra = dict(params_m=round(case.parameters / 1e6, 1), batch=args.batch_size)
        seconds = forward[name]
        seconds_of[name] = {"forward": seconds, "forward_cpu": forward.get(f"{name}_cpu_s")}
        memory = forward.get(f"{name}_peak_gb")
        report.figure("forward", name, shape, "step_time", seconds, "s", **extra, **_cpu_field(forward, name),
                      tflops=significant(case.forward_flops / seconds / 1e12, 3),
                      **({"peak_gb": round(memory, 2)} if memory is not None else {}))
        report.mfu("forward", name, shape, case.forward_flops, seconds, peak, **case.reference_mfu(1, seconds, peak))
        if train:
            seconds = train[name]
            seconds_of[name]["train"] = seconds
            seconds_of[name]["train_cpu"] = train.get(f"{name}_cpu_s")
            memory = train.get(f"{name}_peak_gb")
            flops = 3 * case.forward_flops
            report.figure("train", name, shape, "step_time", seconds, "s", **extra, **_cpu_field(train, name),
                          tflops=significant(flops / seconds / 1e12, 3),
                          gradient_checkpointing=not args.no_gradient_checkpointing, autocast=dtype != torch.float32,
                          **({"peak_gb": round(memory, 2)} if memory is not None else {}))
            report.mfu("train", name, shape, flops, seconds, peak, **case.reference_mfu(3, seconds, peak))
    return seconds_of


def run(args) -> int:
    import torch

    from genvid.bench.report import Report, peak_flops

    device, dtype, preset_name = machine(args, GPU_PRESET)
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = PRESETS[preset_name]
    grid = parse_size(args.latents or preset["latents"], "--latents", "TxHxW")
    text_length = args.text_length or preset["text_length"]
    peer_config = dict(preset["peer"])
    # CogVideoX's position table covers exactly max_text_seq_length text tokens.
    peer_config["max_text_seq_length"] = text_length
    peak = peak_flops(device, dtype, args.peak_tflops)
    report = Report("dit", device, dtype)
    channels = preset["genvid"]["in_channels"]
    shape = "x".join(str(size) for size in (args.batch_size, channels, *grid)) + f"+text{text_length}"
    video_tokens = grid[0] * (grid[1] // 2) * (grid[2] // 2)
    report.figure("setup", "-", shape, "video_tokens", video_tokens, "tokens", preset=preset_name,
                  torch=torch.__version__, text_tokens=text_length,
                  peak_tflops=None if peak is None else peak / 1e12)

    builders = [("genvid", _genvid_case, preset["genvid"])]
    if not args.no_peer:
        builders.append(("cogvideox", _peer_case, peer_config))
    cases = []
    for name, builder, config in builders:
        report.progress(f"{name}: building ({preset_name} preset)")
        torch.manual_seed(0)
        case = builder(config, grid, text_length, args.batch_size, device, dtype)
        if args.compile and name == "genvid":
            for block in case.model.blocks:
                block.compile()
        cases.append(case)
    try:
        results = _time_cases(cases, args, device, dtype, report, shape, peak)
    except torch.cuda.OutOfMemoryError as error:
        report.figure("forward", "+".join(case.name for case in cases), shape, "step_time", None, "s",
                      error=f"out of memory: {str(error).splitlines()[0][:200]}")
        results = {}
    del cases
    gc.collect()

    if "genvid" in results and "cogvideox" in results:
        for kind in ("forward", "train"):
            if kind in results["genvid"] and kind in results["cogvideox"]:
                ours, theirs = results["genvid"].get(f"{kind}_cpu"), results["cogvideox"].get(f"{kind}_cpu")
                cpu = {"cpu_ratio": significant(ours / theirs)} if ours and theirs else {}
                report.compare(kind, shape, "step_time", results["genvid"][kind], "cogvideox",
                               results["cogvideox"][kind], "s", better="lower", **cpu)
    return 0


def main(argv: list[str] | None = None) -> int:
    return standalone_main(__name__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
