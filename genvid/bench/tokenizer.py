"""``genvid bench tokenizer``: encode / decode frames/s and peak memory of genvid's tokenizer and
diffusers' AutoencoderKLCogVideoX (random weights, 4x8x8 compression, 16 latent channels) on the
same shapes in the same run. One JSON line per figure (the layout of :mod:`genvid.bench.report`),
then comparison lines (genvid / CogVideoX).

Presets: ``small`` (default on CPU, under a minute): tokenizer/tiny_gaussian's networks beside the
CogVideoX architecture at a matching size on a 9x64x64 clip; ``base`` (default on GPU):
tokenizer/base_gaussian beside CogVideoX's own VAE.

GPU: peak memory is ``torch.cuda.max_memory_allocated`` over the call. CPU: the peak resident
memory above the starting level (after returning freed heap pages to the OS), sampled every few
milliseconds (approximate).
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from typing import Callable

from genvid.bench import add_machine_arguments, machine, parse_size, standalone_main

HELP = "tokenizer encode/decode frames/s and memory vs AutoencoderKLCogVideoX"

#: the preset a GPU runs unless told
GPU_PRESET = "base"

#: genvid's tokenizer (a shipped config's model section) and CogVideoX's VAE at a matching size
#: (None: diffusers' defaults, CogVideoX's own 216M VAE), with the shapes timed on CPU and GPU
PRESETS = {
    # under a minute on a CPU: the tiny networks on one short clip
    "small": dict(config="tokenizer/tiny_gaussian", peer="tiny", cpu_shapes="1x3x9x64x64", gpu_shapes="1x3x17x128x128"),
    "base": dict(config="tokenizer/base_gaussian", peer=None, cpu_shapes="1x3x9x64x64,1x3x17x128x128",
                 gpu_shapes="1x3x17x256x256,1x3x49x480x720"),
}
#: CogVideoX VAE sizes of the architecture (blocks, layers each, norm groups) beside genvid's small networks
COGVIDEOX_SIZES = {
    "tiny": dict(block_out_channels=(16, 32, 32, 64), layers_per_block=1, norm_num_groups=8),
    "base": dict(block_out_channels=(64, 128, 256, 256), layers_per_block=2, norm_num_groups=32),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_machine_arguments(parser, PRESETS, GPU_PRESET)
    parser.add_argument("--shapes", default=None, help="comma-separated BxCxTxHxW (default: the preset's)")
    parser.add_argument("--config", default=None,
                        help="tokenizer YAML whose model: section builds genvid's tokenizer (a path or a shipped name; default: the preset's)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--tokenizer", default=None, help="a save_pretrained tokenizer folder instead of --config")
    parser.add_argument("--chunk-size", type=int, default=None, help="latent frames per chunk (default: the tokenizer's)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (the median is reported)")
    parser.add_argument("--no-peer", action="store_true", help="time genvid only")
    parser.add_argument("--flops", action="store_true",
                        help="also count each call's FLOPs (torch.utils.flop_counter; a device-independent ratio)")
    parser.add_argument("--channels-last", action="store_true", help="run genvid's tokenizer in channels_last_3d memory")


class _ResidentPeak:
    """Peak resident memory (bytes above the start) of this process, sampled in a thread."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.page = os.sysconf("SC_PAGE_SIZE")

    def _resident(self) -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * self.page

    def __enter__(self):
        self.start = self.peak = self._resident()
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while self.running:
            self.peak = max(self.peak, self._resident())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.peak = max(self.peak, self._resident())
        self.used = self.peak - self.start
        return False


def _release_freed_memory() -> None:
    """Hand freed heap pages back to the OS so the next resident-memory peak is the call's own
    (otherwise glibc reuses the warm-up's pages and the growth reads as zero)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the figure is then a lower bound
        pass


def measure_once(function: Callable[[], object], device) -> tuple[float, int, int, object]:
    """One call of ``function``: (seconds, peak bytes above the start, peak bytes in all, its result).
    GPU: allocated memory; CPU: the process's resident memory, sampled."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        baseline = torch.cuda.memory_allocated(device)
        start = time.perf_counter()
        result = function()
        torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        total = torch.cuda.max_memory_allocated(device)
        return seconds, total - baseline, total, result
    _release_freed_memory()
    with _ResidentPeak() as monitor:
        start = time.perf_counter()
        result = function()
        seconds = time.perf_counter() - start
    return seconds, monitor.used, monitor.peak, result


def _measure(function: Callable[[], object], device, repeats: int) -> tuple[float, float]:
    """(median seconds, peak memory GB) of ``function``; one untimed warm-up call first."""
    function()
    times = []
    peak = 0
    for _ in range(repeats):
        seconds, used, _, _ = measure_once(function, device)
        times.append(seconds)
        peak = max(peak, used)
    return statistics.median(times), peak / 2**30


def _count_flops(function: Callable[[], object]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        function()
    return float(counter.get_total_flops())


def _genvid_tokenizer(args, config, device, dtype):
    from genvid.config import load_config, section
    from tokenizer import VideoTokenizer

    if args.tokenizer:
        model = VideoTokenizer.from_pretrained(args.tokenizer)
    else:
        model_config = section(load_config(args.config or config), "model")
        model_config["bottleneck"] = "gaussian"  # the peer is a KL autoencoder: compare like with like
        model_config.pop("latent_channels", None)
        model = VideoTokenizer(**model_config)
    model = model.to(device, dtype).eval()
    if args.channels_last:
        model = model.to_channels_last()
    return model


def cogvideox_autoencoder(size: str | None = None):
    """diffusers' AutoencoderKLCogVideoX: CogVideoX's own (None; 4x8x8, 16 latent channels) or
    the same architecture at one of :data:`COGVIDEOX_SIZES`."""
    from diffusers import AutoencoderKLCogVideoX

    if size is None:
        return AutoencoderKLCogVideoX()
    options = COGVIDEOX_SIZES[size]
    blocks = len(options["block_out_channels"])
    return AutoencoderKLCogVideoX(
        down_block_types=("CogVideoXDownBlock3D",) * blocks, up_block_types=("CogVideoXUpBlock3D",) * blocks,
        latent_channels=16, temporal_compression_ratio=4, **options,
    )


def run(args) -> int:
    import torch
    from diffusers.utils import logging as diffusers_logging

    from genvid.bench.report import Report

    diffusers_logging.set_verbosity_error()  # "modules kept in float32" notices on every .to(dtype)

    device, dtype, preset_name = machine(args, GPU_PRESET)
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = PRESETS[preset_name]
    shapes_text = args.shapes or preset["gpu_shapes" if device.type == "cuda" else "cpu_shapes"]
    shapes = [parse_size(item, "--shapes", "BxCxTxHxW") for item in shapes_text.split(",")]
    generator = torch.Generator().manual_seed(0)
    report = Report("tokenizer", device, dtype)

    report.progress(f"building genvid's tokenizer ({args.tokenizer or args.config or preset['config']})")
    models = {"genvid": _genvid_tokenizer(args, preset["config"], device, dtype)}
    if not args.no_peer:
        report.progress(f"building AutoencoderKLCogVideoX ({preset['peer'] or 'CogVideoX'} size)")
        models["cogvideox"] = cogvideox_autoencoder(preset["peer"]).to(device, dtype).eval()
    parameters = {name: sum(p.numel() for p in model.parameters()) / 1e6 for name, model in models.items()}

    for shape in shapes:
        batch, channels, num_frames, height, width = shape
        video = (torch.rand(shape, generator=generator) * 2 - 1).to(device, dtype)
        figures: dict[tuple[str, str], tuple] = {}
        for name, model in models.items():
            with torch.no_grad():
                if name == "genvid":
                    model.latent_shape(num_frames, height, width)
                    encode = lambda m=model: m.encode(video, chunk_size=args.chunk_size, progress=False)  # noqa: E731
                    latents = encode()
                    decode = lambda m=model: m.decode(latents, chunk_size=args.chunk_size, progress=False)  # noqa: E731
                else:
                    encode = lambda m=model: m.encode(video).latent_dist.mode()  # noqa: E731
                    latents = encode()
                    decode = lambda m=model: m.decode(latents).sample  # noqa: E731
                for operation, function in (("encode", encode), ("decode", decode)):
                    report.progress(f"{name}: {operation} {'x'.join(map(str, shape))} ({args.repeats} timed)")
                    seconds, peak_gb = _measure(function, device, args.repeats)
                    flops = _count_flops(function) if args.flops else None
                    figures[(name, operation)] = (batch * num_frames / seconds, peak_gb, flops)
                    report.figure(operation, name, shape, "frames_per_second", batch * num_frames / seconds, "frames/s",
                                  s=round(seconds, 5), peak_memory_gb=round(peak_gb, 4),
                                  parameters_m=round(parameters[name], 2), latent_shape=list(latents.shape),
                                  **({"gflops": round(flops / 1e9, 2)} if flops is not None else {}))
                del latents
        if "cogvideox" in models:
            for operation in ("encode", "decode"):
                ours, peer = figures[("genvid", operation)], figures[("cogvideox", operation)]
                report.compare(operation, shape, "frames_per_second", ours[0], "cogvideox", peer[0], "frames/s",
                               better="higher")
                report.compare(operation, shape, "peak_memory", ours[1], "cogvideox", peer[1], "GB", better="lower")
                if args.flops:
                    report.compare(operation, shape, "flops", ours[2] / 1e9, "cogvideox", peer[2] / 1e9, "GFLOP",
                                   better="lower")
    return 0


def main(argv: list[str] | None = None) -> int:
    return standalone_main(__name__, argv)


if __name__ == "__main__":
    raise SystemExit(main())
