"""``genvid bench tokenizer``: encode / decode frames/s and peak memory of genvid's tokenizer and
diffusers' AutoencoderKLCogVideoX (random weights, 4x8x8 compression, 16 latent channels) on the
same shapes in the same run. One JSON line per figure, then ratio lines (genvid / CogVideoX).

GPU: peak memory is ``torch.cuda.max_memory_allocated`` over the call. CPU: the peak resident
memory above the starting level (after returning freed heap pages to the OS), sampled every few
milliseconds (approximate).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from typing import Callable

HELP = "tokenizer encode/decode frames/s and memory vs AutoencoderKLCogVideoX"

GPU_SHAPES = "1x3x17x256x256,1x3x49x480x720"
CPU_SHAPES = "1x3x9x64x64,1x3x17x128x128"
DEFAULT_CONFIG = "tokenizer/base_gaussian"  # a shipped config's name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"],
                        help="default: bfloat16 on GPU, float32 on CPU")
    parser.add_argument("--shapes", default=None,
                        help=f"comma-separated BxCxTxHxW (default GPU: {GPU_SHAPES}; CPU: {CPU_SHAPES})")
    parser.add_argument("--config", default=None,
                        help="tokenizer YAML whose model: section builds genvid's tokenizer (a path or a shipped name; default tokenizer/base_gaussian)")
    parser.add_argument("--tokenizer", default=None, help="a save_pretrained tokenizer folder instead of --config")
    parser.add_argument("--chunk-size", type=int, default=None, help="latent frames per chunk (default: the tokenizer's)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure (the median is reported)")
    parser.add_argument("--no-peer", action="store_true", help="time genvid only")
    parser.add_argument("--flops", action="store_true",
                        help="also count each call's FLOPs (torch.utils.flop_counter; a device-independent ratio)")
    parser.add_argument("--channels-last", action="store_true", help="run genvid's tokenizer in channels_last_3d memory")


def _parse_shapes(text: str) -> list[tuple[int, ...]]:
    shapes = []
    for item in text.split(","):
        try:
            shape = tuple(int(part) for part in item.lower().split("x"))
        except ValueError:
            shape = ()
        if len(shape) != 5:
            from genvid.errors import GenvidError

            raise GenvidError(f"--shapes: {item!r} is not BxCxTxHxW")
        shapes.append(shape)
    return shapes


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


def _measure(function: Callable[[], object], device, repeats: int) -> tuple[float, float]:
    """(median seconds, peak memory GB) of ``function``; one untimed warm-up call first."""
    import torch

    function()
    times = []
    peak = 0
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            baseline = torch.cuda.memory_allocated(device)
            start = time.perf_counter()
            function()
            torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
            peak = max(peak, torch.cuda.max_memory_allocated(device) - baseline)
        else:
            _release_freed_memory()
            with _ResidentPeak() as monitor:
                start = time.perf_counter()
                function()
                times.append(time.perf_counter() - start)
            peak = max(peak, monitor.used)
    return statistics.median(times), peak / 2**30


def _count_flops(function: Callable[[], object]) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        function()
    return float(counter.get_total_flops())


def _genvid_tokenizer(args, device, dtype):
    from genvid.config import load_config, section
    from tokenizer import VideoTokenizer

    if args.tokenizer:
        model = VideoTokenizer.from_pretrained(args.tokenizer)
    else:
        model_config = section(load_config(args.config or DEFAULT_CONFIG), "model")
        model_config["bottleneck"] = "gaussian"  # the peer is a KL autoencoder: compare like with like
        model_config.pop("latent_channels", None)
        model = VideoTokenizer(**model_config)
    model = model.to(device, dtype).eval()
    if args.channels_last:
        model = model.to_channels_last()
    return model


def _cogvideox(device, dtype):
    from diffusers import AutoencoderKLCogVideoX

    # the default configuration is CogVideoX's: 4x8x8 compression, 16 latent channels
    return AutoencoderKLCogVideoX().to(device, dtype).eval()


def _emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


def run(args) -> int:
    import torch
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()  # "modules kept in float32" notices on every .to(dtype)

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        from genvid.errors import GenvidError

        raise GenvidError("--device cuda given but no CUDA device is available")
    dtype_name = args.dtype or ("bfloat16" if device.type == "cuda" else "float32")
    dtype = getattr(torch, dtype_name)
    shapes = _parse_shapes(args.shapes or (GPU_SHAPES if device.type == "cuda" else CPU_SHAPES))
    generator = torch.Generator().manual_seed(0)

    models = {"genvid": _genvid_tokenizer(args, device, dtype)}
    if not args.no_peer:
        models["cogvideox"] = _cogvideox(device, dtype)
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
                    seconds, peak_gb = _measure(function, device, args.repeats)
                    flops = _count_flops(function) if args.flops else None
                    figures[(name, operation)] = (seconds, peak_gb, flops)
                    _emit({
                        "bench": "tokenizer", "model": name, "operation": operation,
                        "shape": "x".join(map(str, shape)), "device": str(device), "dtype": dtype_name,
                        "parameters_m": round(parameters[name], 2), "latent_shape": list(latents.shape),
                        "seconds": round(seconds, 5), "frames_per_second": round(batch * num_frames / seconds, 3),
                        "peak_memory_gb": round(peak_gb, 4),
                        **({"gflops": round(flops / 1e9, 2)} if flops is not None else {}),
                    })
                del latents
        if "cogvideox" in models:
            for operation in ("encode", "decode"):
                ours, peer = figures[("genvid", operation)], figures[("cogvideox", operation)]
                _emit({
                    "bench": "tokenizer", "ratio": f"{operation}_speedup_genvid_over_cogvideox",
                    "shape": "x".join(map(str, shape)), "device": str(device), "dtype": dtype_name,
                    "value": round(peer[0] / ours[0], 3),
                })
                _emit({
                    "bench": "tokenizer", "ratio": f"{operation}_peak_memory_genvid_over_cogvideox",
                    "shape": "x".join(map(str, shape)), "device": str(device), "dtype": dtype_name,
                    "value": round(ours[1] / peer[1], 3) if peer[1] > 0 else None,
                })
                if args.flops:
                    _emit({
                        "bench": "tokenizer", "ratio": f"{operation}_flops_cogvideox_over_genvid",
                        "shape": "x".join(map(str, shape)), "device": str(device), "dtype": dtype_name,
                        "value": round(peer[2] / ours[2], 3),
                    })
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_tokenizer", description=HELP)
    add_arguments(parser)
    return run(parser.parse_args(argv))
