"""Benchmarks (``genvid bench <what>``): each module times genvid beside a peer model in the same
run and prints one JSON line per figure; ratios, not absolute seconds, compare across machines.

Each bench module has ``HELP``, ``add_arguments(parser)`` and ``run(args)`` (genvid.commands.bench
reads them); :func:`standalone_main` runs one outside the CLI (``python -m genvid.bench.dit``,
scripts/bench_*.py, tests) with the same options."""

from __future__ import annotations

import argparse
import sys
from types import ModuleType
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import torch


def standalone_main(bench: str | ModuleType, argv: list[str] | None = None) -> int:
    """Parse ``argv`` with the options of ``bench`` (a module or its name) and run it; a GenvidError
    is one line on stderr and exit status 2, as under ``genvid bench``."""
    from genvid.errors import GenvidError

    module = sys.modules[bench] if isinstance(bench, str) else bench
    name = getattr(module.__spec__, "name", module.__name__).rsplit(".", 1)[-1]  # __main__ under python -m
    parser = argparse.ArgumentParser(prog=f"bench_{name}", description=module.HELP)
    module.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return module.run(args)
    except GenvidError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


#: what ``--dtype`` offers unless a bench narrows it
DTYPES = ("float32", "bfloat16", "float16")


def add_machine_arguments(parser: argparse.ArgumentParser, presets=None, gpu_preset: str | None = None,
                          preset_help: str = "model sizes and shapes", dtypes=DTYPES, dtype_help: str = "") -> None:
    """``--preset`` (when the bench has ``presets``), ``--device`` and ``--dtype``, all defaulting by
    the machine as :func:`machine` resolves them: ``gpu_preset`` / bfloat16 on a GPU, ``small`` /
    float32 on a CPU."""
    if presets is not None:
        parser.add_argument("--preset", choices=sorted(presets), default=None,
                            help=f"{preset_help} (default: {gpu_preset} on GPU, small on CPU)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    if dtypes:
        parser.add_argument("--dtype", default=None, choices=list(dtypes),
                            help=f"{dtype_help}(default: bfloat16 on GPU, float32 on CPU)")


class Machine(NamedTuple):
    device: "torch.device"
    dtype: "torch.dtype"
    #: the ``--preset`` name (None for a bench without presets)
    preset: str | None


def machine(args, gpu_preset: str | None = None) -> Machine:
    """The device, dtype and preset of :func:`add_machine_arguments`' options, defaults filled; a
    one-line GenvidError for ``--device cuda`` on a machine without CUDA."""
    import torch

    from genvid.errors import GenvidError

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    on_gpu = device.type == "cuda"
    if on_gpu and not torch.cuda.is_available():
        raise GenvidError(f"--device {args.device}: no CUDA device is available")
    dtype = getattr(torch, getattr(args, "dtype", None) or ("bfloat16" if on_gpu else "float32"))
    preset = None if gpu_preset is None else args.preset or (gpu_preset if on_gpu else "small")
    return Machine(device, dtype, preset)


def parse_size(text: str, option: str, layout: str) -> tuple[int, ...]:
    """``"13x60x90"`` -> ``(13, 60, 90)``: one size of an option's value, as many whole numbers as
    ``layout`` (e.g. ``"TxHxW"``) names; a one-line GenvidError otherwise."""
    from genvid.errors import GenvidError

    try:
        size = tuple(int(part) for part in text.strip().lower().split("x"))
    except ValueError:
        size = ()
    if len(size) != len(layout.split("x")):
        raise GenvidError(f"{option}: {text!r} is not {layout}")
    return size
