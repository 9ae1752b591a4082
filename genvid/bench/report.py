"""The one JSON-line layout every ``genvid bench`` prints, and progress on stderr.

Each figure is one line with the same fields::

    {"bench": "dit", "case": "forward", "model": "genvid", "device": "cpu", "dtype": "float32",
     "shape": "1x16x5x16x16", "metric": "step_time", "value": 0.0123, "unit": "s", "threads": 2,
     "load_1m": 3.9}

``threads`` is ``torch.get_num_threads()`` when the line was written and ``load_1m`` the machine's
one-minute load average then: on a shared CPU a ratio taken at a load above the core count is noisy.

``case`` names what was run, ``model`` whose figure it is, ``shape`` the input. Where a peer ran on
the same case, a comparison line follows with ``model`` "genvid", ``value`` genvid's figure, and
``peer``, ``peer_value`` and ``ratio`` (genvid / peer) -- or ``difference`` (genvid - peer) for
figures in dB and scores such as SSIM -- and ``better`` ("lower" or "higher") to read the ratio by. Extra fields (parameter
counts, peak memory of the case) may follow. MFU lines appear only where the peak of the device is
known (:func:`peak_flops`; never on a CPU), or given with ``--peak-tflops``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import IO, Any, Callable

FIELDS = ("bench", "case", "model", "device", "dtype", "shape", "metric", "value", "unit", "threads", "load_1m")

#: dense bf16 / fp16 tensor-core peaks (FLOP/s) of devices by the name CUDA reports
KNOWN_PEAKS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12}


def peak_flops(device, dtype, given_tflops: float | None = None) -> float | None:
    """The device's peak FLOP/s for ``dtype``: ``given_tflops`` if set, a known GPU's dense bf16 /
    fp16 peak, else None (a CPU, float32, or a GPU not in :data:`KNOWN_PEAKS`)."""
    import torch

    if given_tflops:
        return given_tflops * 1e12
    device = torch.device(device)
    if device.type != "cuda" or dtype not in (torch.bfloat16, torch.float16):
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in KNOWN_PEAKS.items() if key in name), None)


def device_label(device) -> str:
    """``cpu`` or ``cuda:<the GPU's name>``."""
    import torch

    device = torch.device(device)
    return f"cuda:{torch.cuda.get_device_name(device)}" if device.type == "cuda" else device.type


def shape_label(shape) -> str:
    return shape if isinstance(shape, str) else "x".join(str(size) for size in shape)


def significant(value: float, digits: int = 4) -> float:
    return float(f"{value:.{digits}g}")


def load_average() -> float | None:
    """The one-minute load average (None where the system has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def time_interleaved(arms: dict[str, Callable[[], object]], warmup: int, repeats: int,
                     synchronize: Callable[[], None] = lambda: None,
                     cpu_seconds: dict[str, float] | None = None) -> dict[str, float]:
    """Median seconds per call of each arm, the arms timed in turn (A B A B ...).

    On a machine whose speed drifts (other jobs come and go) timing one arm after the other would
    fold the drift into the ratio; alternating puts every arm under the same conditions.
    ``cpu_seconds``, when given, receives each arm's median process CPU time per call: on a CPU
    shared with other jobs the wall clock also counts the time the arm waited for a core, the CPU
    time only what it ran (all its threads, spinning included)."""
    for function in arms.values():
        for _ in range(warmup):
            function()
    synchronize()
    times: dict[str, list[float]] = {name: [] for name in arms}
    processor: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(repeats):
        for name, function in arms.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            synchronize()
            times[name].append(time.perf_counter() - start)
            processor[name].append(time.process_time() - start_cpu)
    if cpu_seconds is not None:
        cpu_seconds.update({name: statistics.median(values) for name, values in processor.items()})
    return {name: statistics.median(values) for name, values in times.items()}


class Report:
    """Emits one bench's lines: ``figure`` for one model's measurement, ``compare`` for genvid
    beside its peer, ``progress`` to stderr. ``output``: a file to append the lines to as well."""

    def __init__(self, bench: str, device, dtype, stream: IO[str] | None = None, output: str | None = None):
        self.bench = bench
        self.device = device_label(device)
        self.dtype = str(dtype).replace("torch.", "")
        self.stream = stream
        self.output = output
        self.started = time.perf_counter()
        self.lines: list[dict[str, Any]] = []

    def _threads(self) -> int:
        import torch

        return torch.get_num_threads()

    def _emit(self, record: dict[str, Any]) -> dict[str, Any]:
        line = json.dumps(record)
        print(line, file=self.stream or sys.stdout, flush=True)
        if self.output:
            with open(self.output, "a") as handle:
                handle.write(line + "\n")
        self.lines.append(record)
        return record

    def figure(self, case: str, model: str, shape, metric: str, value: float | None, unit: str, **extra) -> dict:
        record = dict(bench=self.bench, case=case, model=model, device=self.device, dtype=self.dtype,
                      shape=shape_label(shape), metric=metric, value=None if value is None else significant(value),
                      unit=unit, threads=self._threads(), load_1m=load_average())
        record.update(extra)
        return self._emit(record)

    def compare(self, case: str, shape, metric: str, value: float, peer: str, peer_value: float, unit: str,
                better: str, difference: bool | None = None, **extra) -> dict:
        """genvid's ``value`` beside ``peer``'s on the same case: a ratio, or a difference
        (``difference``; by default for figures in dB)."""
        if better not in ("lower", "higher"):
            raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
        if difference or (difference is None and unit == "dB"):
            relation = {"difference": significant(value - peer_value)}
        else:
            relation = {"ratio": significant(value / peer_value) if peer_value else None}
        return self.figure(case, "genvid", shape, metric, value, unit, peer=peer, peer_value=significant(peer_value),
                           **relation, better=better, **extra)

    def mfu(self, case: str, model: str, shape, flops: float, seconds: float, peak: float | None, **extra) -> None:
        """An MFU line when the device's peak is known; nothing otherwise."""
        if peak:
            self.figure(case, model, shape, "mfu", flops / seconds / peak, "fraction", peak_tflops=peak / 1e12, **extra)

    def progress(self, message: str) -> None:
        elapsed = time.perf_counter() - self.started
        print(f"[bench {self.bench} {elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)
